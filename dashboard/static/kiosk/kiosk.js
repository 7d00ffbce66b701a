// Locker kiosk: a customer types a pickup code, the gateway opens the door. Needs a kiosk key.
"use strict";

(function () {
  const KEY_STORAGE = "smartstore.kiosk.key";
  const LANG_STORAGE = "smartstore.kiosk.lang";
  const MIN_DIGITS = 6;
  const MAX_DIGITS = 8;
  const RESET_AFTER_MS = 20000;
  // Wrong codes lock one customer's visit, not the locker bank. A pause this long (or a door opened)
  // starts a new visit, so the next customer is not locked out by the one before.
  const VISIT_IDLE_MS = 90000;
  // Key settings are for staff: a 3 s press on the top-left corner, or the page opened with #setup.
  const STAFF_HOLD_MS = 3000;
  const SETUP_HASH = "#setup";

  const TEXT = {
    en: {
      title: "Locker pickup",
      enter_code: "Enter your pickup code",
      open: "Open",
      delete: "Delete",
      setup_needed: "This kiosk is not set up yet",
      setup_staff: "Staff: hold the top-left corner for 3 seconds to enter the kiosk key.",
      not_set_up: "This kiosk is not set up",
      key_help: "Staff: enter the kiosk key for this locker bank.",
      kiosk_key: "Kiosk key",
      save: "Save",
      back: "Back",
      checking: "Checking…",
      door_open: "Door {door} is open",
      take_and_close: "Please take your order and close the door.",
      not_recognised: "Code not recognised",
      tries_left: "Code not recognised — {n} tries left",
      one_try_left: "Code not recognised — 1 try left",
      locked: "Locked for {m} minutes",
      locked_one: "Locked for 1 minute",
      locked_help: "Too many wrong codes. Please try again later or ask a member of staff.",
      not_ready: "Your order is not ready yet",
      used: "This code has already been used",
      expired: "This order has expired",
      ask_staff: "Please ask a member of staff.",
      door_failed: "The door could not be opened",
      locker_offline: "This screen cannot reach the locker",
      use_keypad: "Please type your code on the locker's own keypad.",
      offline: "Cannot reach the store system. Please try again.",
      digits: "A pickup code has 6 to 8 digits",
      failed: "Something went wrong. Please try again.",
      key_rejected: "This key was not accepted.",
      key_not_kiosk: "This page needs a kiosk key for this store.",
      unknown_locker: "This store or locker bank does not exist.",
      lang_other: "中文",
    },
    "zh-CN": {
      title: "智能柜取件",
      enter_code: "请输入取件码",
      open: "开门",
      delete: "删除",
      setup_needed: "此自助终端尚未设置",
      setup_staff: "店员：长按左上角 3 秒即可输入终端密钥。",
      not_set_up: "此自助终端尚未设置",
      key_help: "店员：请输入此智能柜的终端密钥。",
      kiosk_key: "终端密钥",
      save: "保存",
      back: "返回",
      checking: "正在验证…",
      door_open: "{door} 号柜门已打开",
      take_and_close: "请取走您的商品并关好柜门。",
      not_recognised: "取件码无效",
      tries_left: "取件码无效 — 还可尝试 {n} 次",
      one_try_left: "取件码无效 — 还可尝试 1 次",
      locked: "已锁定 {m} 分钟",
      locked_one: "已锁定 1 分钟",
      locked_help: "错误次数过多，请稍后再试或联系店员。",
      not_ready: "您的订单尚未备好",
      used: "此取件码已被使用",
      expired: "此订单已过期",
      ask_staff: "请联系店员。",
      door_failed: "柜门无法打开",
      locker_offline: "此屏幕无法连接智能柜",
      use_keypad: "请在智能柜自带的键盘上输入取件码。",
      offline: "无法连接系统，请重试。",
      digits: "取件码为 6 至 8 位数字",
      failed: "出现问题，请重试。",
      key_rejected: "此密钥无效。",
      key_not_kiosk: "此页面需要本店的终端密钥。",
      unknown_locker: "此门店或智能柜不存在。",
      lang_other: "English",
    },
  };

  const parts = window.location.pathname.split("/").filter(Boolean);
  const store = decodeURIComponent(parts[1] || "");
  const locker = decodeURIComponent(parts[2] || "");
  const api = "/api/v1/stores/" + encodeURIComponent(store) + "/lockers/" + encodeURIComponent(locker);

  const el = (id) => document.getElementById(id);
  const state = {
    lang: initialLanguage(),
    code: "",
    busy: false,
    message: null, // {key, params, tone, sub}: kept so a language switch re-renders it
    resetTimer: null,
    lockoutMinutes: 15, // the store's setting, from the key check
    visit: null, // this customer's visit id, sent as `session` with each code
    lastInput: 0,
  };

  function initialLanguage() {
    const saved = window.localStorage.getItem(LANG_STORAGE);
    if (saved && TEXT[saved]) return saved;
    return (navigator.language || "").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
  }

  function t(key, params) {
    const template = TEXT[state.lang][key] || TEXT.en[key] || key;
    return template.replace(/\{(\w+)\}/g, (_, name) => String((params || {})[name] ?? ""));
  }

  function applyLanguage() {
    document.documentElement.lang = state.lang;
    document.title = t("title");
    document.querySelectorAll("[data-i18n]").forEach((node) => {
      node.textContent = t(node.dataset.i18n);
    });
    el("lang").textContent = t("lang_other");
    renderMessage();
  }

  // --- screens -------------------------------------------------------------------------------------

  function showOnly(id) {
    for (const screen of ["setup-screen", "key-screen", "pickup-screen"]) el(screen).hidden = screen !== id;
  }

  // What a customer sees while no key is set (or the key was refused): no ids, no form, no button.
  function showSetupScreen(reasonKey) {
    showOnly("setup-screen");
    el("where").hidden = true;
    el("setup-reason").textContent = reasonKey ? t(reasonKey) : "";
    el("setup-reason").dataset.key = reasonKey || "";
  }

  function showKeyScreen(errorKey) {
    showOnly("key-screen");
    el("key-error").textContent = errorKey ? t(errorKey) : "";
    el("key-error").dataset.key = errorKey || "";
    el("key-input").value = "";
    el("key-input").focus();
  }

  function showPickupScreen() {
    showOnly("pickup-screen");
    renderCode();
  }

  async function checkKey(key) {
    // The page works only with a kiosk key of this store: the gateway says whether it is one.
    let response;
    try {
      response = await fetch(api + "/kiosk", { headers: authHeaders(key), cache: "no-store" });
    } catch (error) {
      return { ok: false, errorKey: "offline" };
    }
    const body = await readJson(response);
    if (response.ok) return { ok: true, body: body };
    if (response.status === 401) return { ok: false, errorKey: "key_rejected" };
    if (response.status === 403) return { ok: false, errorKey: "key_not_kiosk" };
    if (response.status === 404) return { ok: false, errorKey: "unknown_locker" };
    return { ok: false, errorKey: "failed" };
  }

  async function start() {
    applyLanguage();
    const key = window.localStorage.getItem(KEY_STORAGE);
    if (!key) {
      if (window.location.hash === SETUP_HASH) showKeyScreen(null);
      else showSetupScreen(null);
      return;
    }
    const checked = await checkKey(key);
    if (checked.ok) {
      showHello(checked.body);
      showPickupScreen();
    } else if (checked.errorKey === "offline") {
      showPickupScreen(); // keep serving: the key may well be fine once the gateway is back
      setMessage("offline", {}, "bad");
    } else {
      window.localStorage.removeItem(KEY_STORAGE);
      showSetupScreen(checked.errorKey);
    }
  }

  function showHello(body) {
    if (body && typeof body.lockout_minutes === "number") state.lockoutMinutes = body.lockout_minutes;
    el("store-name").textContent = (body && (body.store_name || body.store)) || "";
    el("locker-name").textContent = (body && (body.locker_name || body.locker)) || "";
    el("where").hidden = false;
  }

  function leaveKeyScreen() {
    // Drop #setup, so that a reload (or the next customer) does not land on the key form again.
    if (window.location.hash === SETUP_HASH) {
      window.history.replaceState(null, "", window.location.pathname + window.location.search);
    }
    if (window.localStorage.getItem(KEY_STORAGE)) showPickupScreen();
    else showSetupScreen(null);
  }

  async function saveKey(event) {
    event.preventDefault();
    const key = el("key-input").value.trim();
    if (!key) return;
    el("key-error").textContent = t("checking");
    const checked = await checkKey(key);
    if (!checked.ok) {
      el("key-error").textContent = t(checked.errorKey);
      return;
    }
    window.localStorage.setItem(KEY_STORAGE, key);
    showHello(checked.body);
    leaveKeyScreen();
  }

  // --- code entry ----------------------------------------------------------------------------------

  function renderCode() {
    el("code").textContent = state.code;
    el("open").disabled = state.busy || state.code.length < MIN_DIGITS;
  }

  function touch() {
    const now = Date.now();
    if (now - state.lastInput > VISIT_IDLE_MS) state.visit = null;
    state.lastInput = now;
  }

  function visitId() {
    if (!state.visit) {
      const bytes = new Uint8Array(12);
      window.crypto.getRandomValues(bytes);
      state.visit = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    }
    return state.visit;
  }

  function press(digit) {
    touch();
    if (state.busy || state.code.length >= MAX_DIGITS) return;
    if (state.message && state.message.tone === "ok") clearMessage();
    state.code += digit;
    renderCode();
  }

  function backspace() {
    if (state.busy) return;
    state.code = state.code.slice(0, -1);
    renderCode();
  }

  function setMessage(key, params, tone, sub) {
    state.message = { key: key, params: params || {}, tone: tone, sub: sub || null };
    renderMessage();
    window.clearTimeout(state.resetTimer);
    state.resetTimer = window.setTimeout(clearMessage, RESET_AFTER_MS);
  }

  function clearMessage() {
    state.message = null;
    renderMessage();
  }

  function renderMessage() {
    const box = el("message");
    box.className = "message";
    box.textContent = "";
    const message = state.message;
    if (!message) return;
    box.classList.add(message.tone);
    const main = document.createElement("span");
    main.id = "message-text";
    main.textContent = t(message.key, message.params);
    box.appendChild(main);
    if (message.sub) {
      const sub = document.createElement("small");
      sub.textContent = t(message.sub);
      box.appendChild(sub);
    }
  }

  async function submit() {
    if (state.busy) return;
    if (state.code.length < MIN_DIGITS || state.code.length > MAX_DIGITS) {
      setMessage("digits", {}, "warn");
      return;
    }
    const key = window.localStorage.getItem(KEY_STORAGE);
    if (!key) {
      showSetupScreen(null);
      return;
    }
    const code = state.code;
    touch();
    const session = visitId();
    state.busy = true;
    renderCode();
    try {
      const response = await fetch(api + "/pickup", {
        method: "POST",
        headers: Object.assign({ "Content-Type": "application/json" }, authHeaders(key)),
        body: JSON.stringify({ code: code, session: session }),
        cache: "no-store",
      });
      const body = await readJson(response);
      handleAnswer(response, body);
    } catch (error) {
      setMessage("offline", {}, "bad");
    } finally {
      state.code = "";
      state.busy = false;
      renderCode();
    }
  }

  function handleAnswer(response, body) {
    if (response.ok) {
      state.visit = null; // served: whoever comes next starts afresh
      const door = body.door_number ?? body.door ?? body.compartment ?? "";
      setMessage("door_open", { door: door }, "ok", "take_and_close");
      return;
    }
    const code = errorCode(body);
    const extra = errorFields(body);
    if (code === "missing_api_key" || code === "invalid_api_key") {
      window.localStorage.removeItem(KEY_STORAGE);
      showSetupScreen("key_rejected");
      return;
    }
    if (response.status === 403) {
      showSetupScreen("key_not_kiosk");
      return;
    }
    if (code === "locked" || response.status === 423 || response.status === 429) {
      lockedFor(Number(extra.retry_after_s ?? response.headers.get("Retry-After") ?? state.lockoutMinutes * 60));
      return;
    }
    if (code === "code_not_recognised") {
      const left = extra.tries_left;
      if (left === 0) lockedFor(state.lockoutMinutes * 60);
      else if (left === 1) setMessage("one_try_left", {}, "warn");
      else if (typeof left === "number") setMessage("tries_left", { n: left }, "warn");
      else setMessage("not_recognised", {}, "warn");
      return;
    }
    const simple = {
      order_not_ready: ["not_ready", "warn", null],
      code_already_used: ["used", "warn", "ask_staff"],
      code_expired: ["expired", "bad", "ask_staff"],
      locker_offline: ["locker_offline", "bad", "use_keypad"],
      validation_error: ["digits", "warn", null],
    }[code];
    if (simple) {
      setMessage(simple[0], {}, simple[1], simple[2]);
    } else if (response.status >= 500) {
      setMessage("door_failed", {}, "bad", "ask_staff");
    } else {
      setMessage("failed", {}, "bad");
    }
  }

  function lockedFor(seconds) {
    const minutes = Math.max(1, Math.ceil(seconds / 60));
    setMessage(minutes === 1 ? "locked_one" : "locked", { m: minutes }, "bad", "locked_help");
  }

  // --- helpers -------------------------------------------------------------------------------------

  function authHeaders(key) {
    return { Authorization: "Bearer " + key };
  }

  async function readJson(response) {
    try {
      return await response.json();
    } catch (error) {
      return {};
    }
  }

  // Error bodies are {"error": {"code", "message", "details"}}; a plain {"error": "code"} works too.
  function errorCode(body) {
    if (!body || !body.error) return "";
    return typeof body.error === "string" ? body.error : String(body.error.code || "");
  }

  function errorFields(body) {
    const fields = {};
    if (!body) return fields;
    const error = typeof body.error === "object" && body.error ? body.error : {};
    const details = Array.isArray(error.details) ? error.details : [];
    for (const source of [...details, error, body]) {
      for (const name of ["tries_left", "retry_after_s"]) {
        if (fields[name] === undefined && typeof source[name] === "number") fields[name] = source[name];
      }
    }
    return fields;
  }

  // --- wiring --------------------------------------------------------------------------------------

  el("pad").addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    if (button.dataset.digit !== undefined) press(button.dataset.digit);
    else if (button.id === "delete") backspace();
    else if (button.id === "open") submit();
  });
  el("key-form").addEventListener("submit", saveKey);
  el("lang").addEventListener("click", () => {
    state.lang = state.lang === "en" ? "zh-CN" : "en";
    window.localStorage.setItem(LANG_STORAGE, state.lang);
    applyLanguage();
    for (const id of ["key-error", "setup-reason"]) {
      const errorKey = el(id).dataset.key;
      if (errorKey) el(id).textContent = t(errorKey);
    }
  });
  el("key-cancel").addEventListener("click", leaveKeyScreen);
  window.addEventListener("hashchange", () => {
    if (window.location.hash === SETUP_HASH) showKeyScreen(null);
  });
  // The staff gesture: a press held STAFF_HOLD_MS on the corner; lifting or sliding off cancels it.
  let holdTimer = null;
  const release = () => window.clearTimeout(holdTimer);
  el("staff-corner").addEventListener("pointerdown", (event) => {
    event.preventDefault();
    release();
    holdTimer = window.setTimeout(() => showKeyScreen(null), STAFF_HOLD_MS);
  });
  for (const name of ["pointerup", "pointerleave", "pointercancel"]) {
    el("staff-corner").addEventListener(name, release);
  }
  el("staff-corner").addEventListener("contextmenu", (event) => event.preventDefault());
  // A USB keypad or a QR scanner acting as a keyboard types digits and Enter.
  document.addEventListener("keydown", (event) => {
    if (el("pickup-screen").hidden || event.target === el("key-input")) return;
    if (/^[0-9]$/.test(event.key)) press(event.key);
    else if (event.key === "Backspace") backspace();
    else if (event.key === "Enter") submit();
    else return;
    event.preventDefault();
  });

  start();
})();
