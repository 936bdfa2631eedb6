// Init script: makes the JS-visible surface agree with the pinned fingerprint.
// Called as (FP) => void before any page script, in every frame and dedicated worker. CDP overrides
// already set the identity (UA, platform, languages, cores, client hints) natively; those patches
// apply only where the live value still disagrees, so a correctly overridden property keeps its own
// native getter.
(FP) => {
  'use strict';
  // Every replacement is a Proxy of the native function: name, length, no `prototype`, and even
  // another realm's Function.prototype.toString prints "[native code]". This realm's prints the exact name.
  const masked = new WeakMap();
  const mask = (fn, name) => {
    masked.set(fn, `function ${name}() { [native code] }`);
    return fn;
  };
  const method = (owner, prop, apply) => {
    const desc = owner && Object.getOwnPropertyDescriptor(owner, prop);
    if (!desc || typeof desc.value !== 'function') return;
    Object.defineProperty(owner, prop, { ...desc, value: mask(new Proxy(desc.value, { apply }), prop) });
  };
  // Replace an accessor where it already lives (prototype or window), keeping its flags. The native
  // getter still runs first, so a foreign receiver keeps throwing "Illegal invocation".
  const getter = (owner, prop, compute) => {
    const desc = owner && Object.getOwnPropertyDescriptor(owner, prop);
    if (!desc || !desc.get) return;
    const apply = (target, that, args) => compute(Reflect.apply(target, that, args));
    Object.defineProperty(owner, prop, { ...desc, get: mask(new Proxy(desc.get, { apply }), `get ${prop}`) });
  };
  method(Function.prototype, 'toString', (target, that, args) =>
    masked.has(that) ? masked.get(that) : Reflect.apply(target, that, args),
  );
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

  const NavProto = Object.getPrototypeOf(navigator); // Navigator, or WorkerNavigator in a worker
  getter(NavProto, 'webdriver', () => false);
  if (navigator.userAgent !== FP.user_agent) {
    getter(NavProto, 'userAgent', () => FP.user_agent);
    getter(NavProto, 'appVersion', () => FP.user_agent.replace(/^Mozilla\//, ''));
  }
  if (navigator.platform !== FP.platform) getter(NavProto, 'platform', () => FP.platform);
  if (!same(navigator.languages, FP.languages)) {
    const langs = Object.freeze([...FP.languages]);
    getter(NavProto, 'languages', () => langs);
    getter(NavProto, 'language', () => langs[0]);
  }
  if (navigator.hardwareConcurrency !== FP.hardware_concurrency) {
    getter(NavProto, 'hardwareConcurrency', () => FP.hardware_concurrency);
  }
  // deviceMemory exists only in secure contexts; never invent it elsewhere.
  if ('deviceMemory' in navigator) getter(NavProto, 'deviceMemory', () => FP.device_memory);

  // Client hints fallback for frames the CDP override did not reach.
  const uad = navigator.userAgentData;
  if (uad && (uad.platform !== FP.ua_platform || !same(uad.brands, FP.brands))) {
    const UAProto = Object.getPrototypeOf(uad);
    const low = () => ({ brands: FP.brands.map((b) => ({ ...b })), mobile: false, platform: FP.ua_platform });
    getter(UAProto, 'brands', () => low().brands);
    getter(UAProto, 'mobile', () => false);
    getter(UAProto, 'platform', () => FP.ua_platform);
    const high = {
      architecture: FP.architecture,
      bitness: FP.bitness,
      formFactors: ['Desktop'],
      fullVersionList: FP.full_version_list.map((b) => ({ ...b })),
      model: '',
      platformVersion: FP.ua_platform_version,
      uaFullVersion: FP.chromium_version,
      wow64: false,
    };
    method(UAProto, 'getHighEntropyValues', (target, that, args) =>
      Reflect.apply(target, that, args).then(() => {
        const out = low();
        for (const h of args[0]) if (h in high) out[h] = high[h];
        return out;
      }),
    );
    method(UAProto, 'toJSON', () => low());
  }

  // Workers have no screen, window frame or window.chrome.
  const isWindow = typeof Window === 'function' && self instanceof Window;
  if (isWindow) {
    // Screen: emulation reports avail == full size; a desktop has a taskbar or menu bar.
    if (screen.width === FP.screen_width && screen.height === FP.screen_height) {
      getter(Screen.prototype, 'availWidth', () => FP.avail_width);
      getter(Screen.prototype, 'availHeight', () => FP.avail_height);
      getter(Screen.prototype, 'availTop', () => FP.avail_top);
    }
    // Headless has no window frame (outer == inner); keep the browser UI size constant on resize.
    const frameW = FP.outer_width - FP.viewport_width;
    const frameH = FP.outer_height - FP.viewport_height;
    getter(window, 'outerWidth', (real) => (real > innerWidth ? real : innerWidth + frameW));
    getter(window, 'outerHeight', (real) => (real > innerHeight ? real : innerHeight + frameH));
  }

  // WebGL: report the pinned GPU where the debug extension would reveal the real one.
  const UNMASKED_VENDOR = 0x9245;
  const UNMASKED_RENDERER = 0x9246;
  for (const Ctx of [self.WebGLRenderingContext, self.WebGL2RenderingContext]) {
    if (!Ctx) continue;
    method(Ctx.prototype, 'getParameter', (target, that, args) => {
      const real = Reflect.apply(target, that, args);
      if (real === null || real === undefined) return real;
      if (args[0] === UNMASKED_VENDOR) return FP.webgl_vendor;
      if (args[0] === UNMASKED_RENDERER) return FP.webgl_renderer;
      return real;
    });
  }

  // Some builds lack window.chrome; every desktop Chrome page has one.
  if (isWindow && !self.chrome) {
    Object.defineProperty(self, 'chrome', {
      value: { app: { isInstalled: false }, runtime: undefined },
      writable: true,
      configurable: true,
      enumerable: true,
    });
  }
}
