// Read-back and detection harness: everything a page can observe about its browser, in one call.
// Called as async ({hashes, worker}) => object. Raw observations only; judging happens in trust.py.
async ({ hashes, worker }) => {
  const safe = (fn, fallback = null) => {
    try {
      return fn();
    } catch (e) {
      return fallback;
    }
  };
  const nav = navigator;
  const out = { url: location.href, secure: self.isSecureContext === true };

  out.navigator = {
    userAgent: nav.userAgent,
    appVersion: nav.appVersion,
    platform: nav.platform,
    vendor: nav.vendor,
    language: nav.language,
    languages: Array.from(nav.languages || []),
    webdriver: nav.webdriver === undefined ? null : nav.webdriver,
    hardwareConcurrency: nav.hardwareConcurrency,
    deviceMemory: nav.deviceMemory === undefined ? null : nav.deviceMemory,
    maxTouchPoints: nav.maxTouchPoints,
    pdfViewerEnabled: nav.pdfViewerEnabled === undefined ? null : nav.pdfViewerEnabled,
    cookieEnabled: nav.cookieEnabled,
  };
  out.navigatorOwnProps = Object.getOwnPropertyNames(nav);

  out.userAgentData = null;
  if (nav.userAgentData) {
    const uad = nav.userAgentData;
    const high = await uad
      .getHighEntropyValues([
        'architecture', 'bitness', 'model', 'platformVersion', 'fullVersionList', 'uaFullVersion', 'wow64', 'formFactors',
      ])
      .catch((e) => ({ error: String(e) }));
    out.userAgentData = {
      brands: uad.brands.map((b) => ({ brand: b.brand, version: b.version })),
      mobile: uad.mobile,
      platform: uad.platform,
      highEntropy: high,
    };
  }

  out.plugins = Array.from(nav.plugins || []).map((p) => p.name);
  out.mimeTypes = Array.from(nav.mimeTypes || []).map((m) => m.type);
  out.pluginsNative = safe(
    () => nav.plugins instanceof PluginArray && nav.mimeTypes instanceof MimeTypeArray,
    false,
  );
  out.chrome = {
    present: typeof self.chrome === 'object' && self.chrome !== null,
    keys: safe(() => Object.keys(self.chrome), []),
  };

  out.permissions = {
    notification: typeof Notification === 'undefined' ? null : Notification.permission,
    query: null,
  };
  if (nav.permissions) {
    out.permissions.query = await nav.permissions
      .query({ name: 'notifications' })
      .then((s) => s.state)
      .catch((e) => 'error: ' + e.name);
  }

  out.webgl = safe(() => {
    const gl = document.createElement('canvas').getContext('webgl');
    if (!gl) return null;
    const ext = gl.getExtension('WEBGL_debug_renderer_info');
    return {
      vendor: gl.getParameter(gl.VENDOR),
      renderer: gl.getParameter(gl.RENDERER),
      unmaskedVendor: ext ? gl.getParameter(ext.UNMASKED_VENDOR_WEBGL) : null,
      unmaskedRenderer: ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : null,
    };
  });

  out.screen = {
    width: screen.width,
    height: screen.height,
    availWidth: screen.availWidth,
    availHeight: screen.availHeight,
    availTop: screen.availTop,
    colorDepth: screen.colorDepth,
  };
  out.window = {
    innerWidth,
    innerHeight,
    outerWidth,
    outerHeight,
    devicePixelRatio,
    screenX,
    screenY,
  };

  const dtf = Intl.DateTimeFormat().resolvedOptions();
  const offsetName = safe(() =>
    new Intl.DateTimeFormat('en-US', { timeZoneName: 'longOffset' })
      .formatToParts(new Date())
      .find((p) => p.type === 'timeZoneName').value,
  );
  out.timezone = {
    name: dtf.timeZone,
    locale: dtf.locale,
    offsetMinutes: -new Date().getTimezoneOffset() || 0, // never -0
    intlOffset: offsetName, // e.g. "GMT+05:30" or "GMT"
  };

  // Accessors that still print as native: what a patched-but-careful browser must preserve.
  out.native = safe(() => {
    const show = (proto, prop) => {
      const d = Object.getOwnPropertyDescriptor(proto, prop);
      return d && d.get ? Function.prototype.toString.call(d.get) : null;
    };
    return {
      platform: show(Navigator.prototype, 'platform'),
      webdriver: show(Navigator.prototype, 'webdriver'),
      userAgent: show(Navigator.prototype, 'userAgent'),
      toString: Function.prototype.toString.toString(),
    };
  }, {});

  if (worker) {
    const src =
      'postMessage({userAgent: navigator.userAgent, platform: navigator.platform,' +
      ' languages: Array.from(navigator.languages), hardwareConcurrency: navigator.hardwareConcurrency,' +
      ' brands: navigator.userAgentData ? navigator.userAgentData.brands.map((b) => b.brand) : null,' +
      ' timezone: Intl.DateTimeFormat().resolvedOptions().timeZone})';
    out.worker = await new Promise((resolve) => {
      let w = null;
      const timer = setTimeout(() => resolve({ error: 'timeout' }), 1500);
      const finish = (value) => {
        clearTimeout(timer);
        if (w) w.terminate();
        resolve(value);
      };
      try {
        const url = URL.createObjectURL(new Blob([src], { type: 'text/javascript' }));
        w = new Worker(url);
        w.onmessage = (e) => finish(e.data);
        w.onerror = (e) => finish({ error: String(e.message || 'worker error') });
      } catch (e) {
        finish({ error: String(e) });
      }
    });
  }

  if (hashes) {
    out.canvas = safe(() => {
      const c = document.createElement('canvas');
      c.width = 240;
      c.height = 60;
      const ctx = c.getContext('2d');
      ctx.textBaseline = 'top';
      ctx.font = "14px 'Arial'";
      ctx.fillStyle = '#f60';
      ctx.fillRect(125, 1, 62, 20);
      ctx.fillStyle = '#069';
      ctx.fillText('Cwm fjordbank glyphs vext quiz, \u{1F603}', 2, 15);
      ctx.fillStyle = 'rgba(102, 204, 0, 0.7)';
      ctx.beginPath();
      ctx.arc(50, 40, 18, 0, Math.PI * 2, true);
      ctx.fill();
      return c.toDataURL();
    });
    out.audio = await (async () => {
      try {
        const Offline = self.OfflineAudioContext || self.webkitOfflineAudioContext;
        if (!Offline) return null;
        const ac = new Offline(1, 5000, 44100);
        const osc = ac.createOscillator();
        osc.type = 'triangle';
        osc.frequency.value = 10000;
        const comp = ac.createDynamicsCompressor();
        comp.threshold.value = -50;
        comp.knee.value = 40;
        comp.ratio.value = 12;
        comp.attack.value = 0;
        comp.release.value = 0.25;
        osc.connect(comp);
        comp.connect(ac.destination);
        osc.start(0);
        const buf = await ac.startRendering();
        const data = buf.getChannelData(0);
        let sum = 0;
        for (let i = 4500; i < 5000; i++) sum += Math.abs(data[i]);
        return Array.from(data.slice(4500, 4600)).join(',') + '|' + sum;
      } catch (e) {
        return null;
      }
    })();
  }
  return out;
}
