"""The per-OS tables a desktop fingerprint is drawn from: user-agent platforms, screens, window chrome and GPUs."""

from __future__ import annotations

__all__ = ["GPUS", "NAV_PLATFORM", "PLATFORM_VERSIONS", "SCREENS", "UA_OS", "UA_PLATFORM", "UI_HEIGHTS"]

UA_OS = {
    "OS_TYPE_WINDOWS": "Windows NT 10.0; Win64; x64",
    "OS_TYPE_MACOS": "Macintosh; Intel Mac OS X 10_15_7",  # frozen by UA reduction, even on Apple silicon
    "OS_TYPE_LINUX": "X11; Linux x86_64",
}
NAV_PLATFORM = {"OS_TYPE_WINDOWS": "Win32", "OS_TYPE_MACOS": "MacIntel", "OS_TYPE_LINUX": "Linux x86_64"}
UA_PLATFORM = {"OS_TYPE_WINDOWS": "Windows", "OS_TYPE_MACOS": "macOS", "OS_TYPE_LINUX": "Linux"}
# Chromium reports "" for Linux; Windows 10 is "10.0.0", Windows 11 is 13+.
PLATFORM_VERSIONS = {
    "OS_TYPE_WINDOWS": ("10.0.0", "15.0.0", "19.0.0"),
    "OS_TYPE_MACOS": ("13.6.9", "14.6.1", "15.3.2"),
    "OS_TYPE_LINUX": ("",),
}
# (CSS width, CSS height, device scale factor, bar height) of common desktop screens.
SCREENS: dict[str, tuple[tuple[int, int, float, int], ...]] = {
    "OS_TYPE_WINDOWS": ((1920, 1080, 1.0, 40), (1536, 864, 1.25, 40), (1366, 768, 1.0, 40), (2560, 1440, 1.0, 48)),
    "OS_TYPE_MACOS": ((1440, 900, 2.0, 25), (1512, 982, 2.0, 38), (1728, 1117, 2.0, 38), (1920, 1080, 1.0, 25)),
    "OS_TYPE_LINUX": ((1920, 1080, 1.0, 32), (2560, 1440, 1.0, 32), (1366, 768, 1.0, 27), (1920, 1200, 1.0, 32)),
}
UI_HEIGHTS = {"OS_TYPE_WINDOWS": (71, 103), "OS_TYPE_MACOS": (79, 111), "OS_TYPE_LINUX": (79, 85)}
# (unmasked vendor, unmasked renderer, architecture, logical cores, device memory GB)
GPUS: dict[str, tuple[tuple[str, str, str, int, int], ...]] = {
    "OS_TYPE_WINDOWS": (
        ("Intel", "Intel(R) UHD Graphics 620 (0x00005917) Direct3D11 vs_5_0 ps_5_0, D3D11", "x86", 8, 8),
        ("Intel", "Intel(R) Iris(R) Xe Graphics (0x00009A49) Direct3D11 vs_5_0 ps_5_0, D3D11", "x86", 8, 8),
        ("NVIDIA", "NVIDIA GeForce RTX 3060 (0x00002504) Direct3D11 vs_5_0 ps_5_0, D3D11", "x86", 16, 8),
        ("NVIDIA", "NVIDIA GeForce GTX 1650 (0x00001F82) Direct3D11 vs_5_0 ps_5_0, D3D11", "x86", 12, 8),
        ("AMD", "AMD Radeon(TM) Graphics (0x00001638) Direct3D11 vs_5_0 ps_5_0, D3D11", "x86", 12, 8),
    ),
    "OS_TYPE_MACOS": (
        ("Apple", "ANGLE Metal Renderer: Apple M1, Unspecified Version", "arm", 8, 8),
        ("Apple", "ANGLE Metal Renderer: Apple M2, Unspecified Version", "arm", 8, 8),
        ("Apple", "ANGLE Metal Renderer: Apple M1 Pro, Unspecified Version", "arm", 10, 8),
        ("Apple", "ANGLE Metal Renderer: Apple M3 Pro, Unspecified Version", "arm", 12, 8),
        ("Intel Inc.", "Intel(R) Iris(TM) Plus Graphics 655, OpenGL 4.1", "x86", 8, 8),
    ),
    "OS_TYPE_LINUX": (
        ("Intel", "Mesa Intel(R) UHD Graphics 620 (KBL GT2), OpenGL 4.6", "x86", 8, 8),
        ("Intel", "Mesa Intel(R) Xe Graphics (TGL GT2), OpenGL 4.6", "x86", 8, 8),
        (
            "AMD",
            "AMD Radeon Graphics (radeonsi, renoir, LLVM 15.0.7, DRM 3.57, 6.8.0-45-generic), OpenGL 4.6",
            "x86",
            16,
            8,
        ),
        ("NVIDIA Corporation", "NVIDIA GeForce GTX 1660 SUPER/PCIe/SSE2, OpenGL 4.5.0", "x86", 12, 8),
    ),
}
