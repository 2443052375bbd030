// The demo page at "/": everything it does goes through authsvc.js.
import * as auth from "../authsvc/authsvc.js";
import { clearAccountPanels, followEmailLink, isEmailLink, showAddress } from "./account.js";
import { $, busy, describeError, focusFirstShown, notify, PASSKEY_MESSAGES, show } from "./page.js";

const SIGNED_OUT_MESSAGES = {
  expired: "Your session has ended. Please sign in again.",
  revoked: "This session was revoked. Please sign in again.",
  logout: "You are signed out.",
  deleted: "Your account is deleted: every session has ended and its address is free again.",
};

const CHALLENGE_OVER = new Set([
  "challenge_missing",
  "challenge_invalid",
  "challenge_expired",
  "challenge_locked",
  "challenge_used",
]);

// The second-factor methods this page can finish a sign-in with, and how the code step asks for each
// (a passkey is asked for by the browser: the step shows a button instead of a box).
const CODE_STEPS = {
  webauthn: { title: "Use your passkey", passkey: true },
  email: { title: "Check your email", label: "Code", pattern: "[0-9]{6}", maxLength: 6, inputMode: "numeric" },
  totp: {
    title: "Enter the code from your app",
    label: "Code",
    pattern: "[0-9]{6}",
    maxLength: 6,
    inputMode: "numeric",
  },
  // xxxxx-xxxxx, accepted without the dash and in any case.
  recovery: { title: "Use a recovery code", label: "Recovery code", pattern: null, maxLength: 16, inputMode: "text" },
};

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

// The sign-in waiting for its second factor: {email, methods, method}.
let pending = null;

/** "Chrome 126 on Linux" from a user agent string; the full string stays in the tooltip. */
function describeDevice(userAgent) {
  if (!userAgent) return "Unknown device";
  const browsers = [
    [/Edg\/(\d+)/, "Edge"],
    [/Firefox\/(\d+)/, "Firefox"],
    [/Chrome\/(\d+)/, "Chrome"],
    [/Version\/(\d+).*Safari/, "Safari"],
  ];
  const systems = [
    [/Android/, "Android"],
    [/iPhone|iPad/, "iOS"],
    [/Windows/, "Windows"],
    [/Mac OS X/, "macOS"],
    [/Linux/, "Linux"],
  ];
  const browser = browsers.find(([pattern]) => pattern.test(userAgent));
  const system = systems.find(([pattern]) => pattern.test(userAgent));
  if (!browser && !system) return userAgent.slice(0, 40);
  const name = browser ? `${browser[1]} ${userAgent.match(browser[0])[1]}` : "A browser";
  return system ? `${name} on ${system[1]}` : name;
}

function cell(text, title) {
  const td = document.createElement("td");
  td.textContent = text;
  if (title) td.title = title;
  return td;
}

function sessionRow(session) {
  const row = document.createElement("tr");
  row.dataset.sessionId = session.id;
  if (session.current) row.classList.add("current");

  const device = cell(describeDevice(session.user_agent), session.user_agent);
  if (session.current) {
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = "This browser";
    device.append(" ", badge);
  }
  const revoke = document.createElement("button");
  revoke.type = "button";
  revoke.className = "revoke";
  revoke.textContent = "Revoke";
  revoke.setAttribute("aria-label", `Revoke ${session.current ? "this browser's session" : "session"}`);
  revoke.addEventListener("click", () =>
    busy(revoke, async () => {
      await auth.revokeSession(session.id);
      if (!session.current) {
        notify("Session revoked.");
        await loadSessions();
      }
    }),
  );
  const actions = document.createElement("td");
  actions.className = "actions-cell";
  actions.append(revoke);

  row.append(
    device,
    cell(session.ip || "—"),
    cell(dateFormat.format(new Date(session.created_at))),
    cell(dateFormat.format(new Date(session.last_used_at))),
    actions,
  );
  return row;
}

async function loadSessions() {
  const list = await auth.sessions();
  $("#sessions tbody").replaceChildren(...list.map(sessionRow));
}

function deviceRow(device) {
  const row = document.createElement("tr");
  row.dataset.deviceId = device.id;
  if (device.current) row.classList.add("current");

  const name = cell(describeDevice(device.user_agent), device.user_agent);
  if (device.current) {
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = "This browser";
    name.append(" ", badge);
  }
  const forget = document.createElement("button");
  forget.type = "button";
  forget.className = "forget";
  forget.textContent = "Forget";
  forget.setAttribute("aria-label", device.current ? "Forget this browser" : "Forget browser");
  forget.addEventListener("click", () =>
    busy(forget, async () => {
      await auth.forgetDevice(device.id);
      notify(
        device.current
          ? "This browser is forgotten: its next sign-in asks for a second factor."
          : "Browser forgotten: its next sign-in asks for a second factor.",
      );
      await loadDevices();
    }),
  );
  const actions = document.createElement("td");
  actions.className = "actions-cell";
  actions.append(forget);

  row.append(
    name,
    cell(device.ip || "—"),
    cell(dateFormat.format(new Date(device.created_at))),
    cell(device.last_used_at ? dateFormat.format(new Date(device.last_used_at)) : "—"),
    actions,
  );
  return row;
}

async function loadDevices() {
  const list = await auth.devices();
  $("#devices tbody").replaceChildren(...list.map(deviceRow));
  $("#devices").hidden = list.length === 0;
  $("#devices-empty").hidden = list.length > 0;
}

const FACTOR_FORMS = [
  "#totp-setup-form",
  "#totp-enrol",
  "#passkey-add-form",
  "#passkey-rename-form",
  "#passkey-remove-form",
  "#codes-form",
  "#totp-off-form",
];

/** Show one of the second-factor forms (or none), emptied; the buttons that open them hide meanwhile. */
function openFactorForm(id) {
  for (const form of FACTOR_FORMS) {
    $(form).hidden = form !== id;
    for (const input of $(form).querySelectorAll("input")) input.value = "";
  }
  $("#factor-actions").hidden = Boolean(id);
  if (id) $(id).querySelector("input").focus();
}

// The passkey a Rename or Remove button chose: {id, name}.
let chosenPasskey = null;

/** Open the rename or remove form for `passkey`, naming it. */
function choosePasskey(passkey, form) {
  hideRecoveryCodes();
  chosenPasskey = passkey;
  openFactorForm(form);
  for (const name of document.querySelectorAll(`${form} .passkey-name`)) name.textContent = passkey.name;
  if (form === "#passkey-rename-form") {
    $("#passkey-rename-name").value = passkey.name;
    $("#passkey-rename-name").select();
  }
}

function passkeyRow(passkey) {
  const row = document.createElement("tr");
  row.dataset.passkeyId = passkey.id;
  const actions = document.createElement("td");
  actions.className = "actions-cell";
  for (const [label, form, kind] of [
    ["Rename", "#passkey-rename-form", ""],
    ["Remove", "#passkey-remove-form", "danger"],
  ]) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = label;
    if (kind) button.className = kind;
    button.setAttribute("aria-label", `${label} ${passkey.name}`);
    button.addEventListener("click", () => choosePasskey(passkey, form));
    actions.append(button);
  }
  row.append(
    cell(passkey.name),
    cell(dateFormat.format(new Date(passkey.created_at))),
    cell(passkey.last_used_at ? dateFormat.format(new Date(passkey.last_used_at)) : "Never"),
    actions,
  );
  return row;
}

/** Show the user's second factors; resolves to twoFactorStatus()'s answer. */
async function loadFactors() {
  const status = await auth.twoFactorStatus();
  const hasApp = status.methods.includes("totp");
  const passkeys = status.webauthn;
  const left = status.recovery_codes_left;
  $("#totp-status").textContent = hasApp ? "On" : "Off";
  $("#passkey-status").textContent = passkeys.length
    ? `${passkeys.length} ${passkeys.length === 1 ? "passkey" : "passkeys"}`
    : "None";
  $("#passkeys tbody").replaceChildren(...passkeys.map(passkeyRow));
  $("#passkeys").hidden = passkeys.length === 0;
  $("#recovery-status").textContent = left ? `${left} left` : "None";
  $("#email-factor-note").hidden = !status.methods.includes("email");
  $("#totp-start").hidden = hasApp;
  $("#totp-off-start").hidden = !hasApp;
  $("#codes-start").hidden = !(hasApp || passkeys.length || left);
  return status;
}

/** Recovery codes, shown this once: the server keeps only their hashes, and this page keeps nothing. */
function showRecoveryCodes(codes) {
  const items = codes.map((code) => {
    const item = document.createElement("li");
    item.textContent = code;
    return item;
  });
  $("#recovery-list").replaceChildren(...items);
  $("#recovery-codes").hidden = false;
  $("#recovery-done").focus();
}

function hideRecoveryCodes() {
  $("#recovery-list").replaceChildren();
  $("#recovery-codes").hidden = true;
}

function clearAccount() {
  $("#sessions tbody").replaceChildren();
  $("#devices tbody").replaceChildren();
  $("#passkeys tbody").replaceChildren();
  chosenPasskey = null;
  $("#user-email").textContent = "";
  hideRecoveryCodes();
  openFactorForm(null);
  $("#totp-qr").replaceChildren();
  $("#totp-secret").textContent = "";
  clearAccountPanels();
}

/** Load and show the account; `stillWanted()` false when it arrives: the user has moved on, leave the view be. */
async function showAccount(stillWanted = () => true) {
  const [user] = await Promise.all([auth.me(), loadSessions(), loadFactors(), loadDevices()]);
  $("#user-email").textContent = user.email;
  showAddress(user);
  if (stillWanted()) show("#account");
}

// A refused refresh, a revoked session, or a sign-out: back to the form.
auth.on("signedout", (event) => {
  const { reason, code, revoked } = event.detail;
  let message = SIGNED_OUT_MESSAGES[reason];
  if (reason === "logout_all") {
    message = `You are signed out everywhere (${revoked} ${revoked === 1 ? "session" : "sessions"} ended).`;
  } else if (code === "not_authenticated" && $("#account").hidden) {
    // No session to speak of: a first visit, or cookies long gone. A page that
    // was showing an account lost it, though (another tab's refused refresh
    // cleared the shared cookies), so that one is told its session ended.
    message = "";
  }
  notify(message, reason === "expired" || reason === "revoked" ? "warning" : "info");
  clearAccount();
  $("#password").value = "";
  show("#signin");
});

/** The code step, asking for `pending.method`'s answer, with a way to each of the other methods. */
function renderCodeStep() {
  const { methods, method } = pending;
  const step = CODE_STEPS[method];
  $("#code-title").textContent = step.title;
  for (const hint of document.querySelectorAll("#code [data-method]")) hint.hidden = hint.dataset.method !== method;
  const passkey = Boolean(step.passkey);
  $("#code-field").hidden = passkey;
  $("#code-submit").hidden = passkey;
  $("#use-passkey").hidden = !passkey;
  const input = $("#code-input");
  input.value = "";
  input.required = !passkey;
  if (!passkey) {
    $("#code-label").textContent = step.label;
    input.inputMode = step.inputMode;
    input.maxLength = step.maxLength;
    if (step.pattern) input.pattern = step.pattern;
    else input.removeAttribute("pattern");
    input.autocomplete = method === "recovery" ? "off" : "one-time-code";
    input.classList.toggle("recovery-code", method === "recovery");
  }

  $("#resend").hidden = method !== "email";
  for (const other of document.querySelectorAll("#code [data-use-method]")) {
    const name = other.dataset.useMethod;
    other.hidden = name === method || !methods.includes(name);
  }
}

/** After the password: the account, or the code step for the best method this page can ask for. */
async function continueSignIn(email, step) {
  notify("");
  if (step.status !== "code_required") {
    await showAccount();
    return;
  }
  const method = step.methods.find((name) => name in CODE_STEPS) || "email";
  pending = { email, methods: step.methods, method };
  $("#code-email").textContent = email;
  $("#code-minutes").textContent = String(Math.max(1, Math.round(step.expiresIn / 60)));
  $("#remember-device").checked = false;
  renderCodeStep();
  show("#code");
}

/** Back to the sign-in form when the pending login cannot be finished any more. */
function restartIfOver(error) {
  if (error instanceof auth.AuthError && CHALLENGE_OVER.has(error.code)) show("#signin");
}

/** Leave a #/… route without a history entry or a hashchange: the page moves on by itself. */
function leaveRoute() {
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
}

$("#signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const button = event.submitter || $("#signin-form button");
  busy(button, async () => {
    const email = $("#email").value.trim();
    const step = await auth.login(email, $("#password").value);
    $("#password").value = "";
    await continueSignIn(email, step);
  });
});

$("#signup-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const button = event.submitter || $("#signup-form button");
  busy(button, async () => {
    const email = $("#signup-email").value.trim();
    const password = $("#signup-password").value;
    await auth.register(email, password);
    $("#signup-password").value = "";
    leaveRoute();
    $("#email").value = email;
    let step;
    try {
      step = await auth.login(email, password);
    } catch (error) {
      // The account exists; only the sign-in that follows it failed: let the user sign in by hand.
      show("#signin");
      throw error;
    }
    await continueSignIn(email, step);
    if (step.status === "code_required") notify("Your account is ready. One more step to sign in.");
  });
});

$("#forgot-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const button = event.submitter || $("#forgot-form button");
  busy(button, async () => {
    const email = $("#forgot-email").value.trim();
    await auth.requestPasswordReset(email);
    leaveRoute();
    $("#email").value = email;
    show("#signin");
    // The server never says whether the address has an account: neither does the page.
    notify(`If ${email} has an account, a link to reset its password is on its way. Check your email.`);
  });
});

$("#reset-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const button = event.submitter || $("#reset-form button");
  busy(button, async () => {
    const { uid, token } = resetLink;
    await auth.confirmPasswordReset(uid, token, $("#reset-password").value);
    $("#reset-password").value = "";
    resetLink = null;
    leaveRoute();
    clearAccount();
    show("#signin");
    notify("Your password is changed and every session has ended. Sign in with the new password.");
  });
});

$("#code-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const button = event.submitter || $("#code-form button");
  busy(button, async () => {
    try {
      await auth.submitCode($("#code-input").value, {
        method: pending.method,
        rememberDevice: $("#remember-device").checked,
      });
    } catch (error) {
      $("#code-input").value = "";
      // This login attempt cannot be finished any more: start again.
      restartIfOver(error);
      throw error;
    }
    notify("");
    await showAccount();
  });
});

// The second step with a passkey: the browser asks for it; a ceremony cancelled costs no try.
$("#use-passkey").addEventListener("click", (event) =>
  busy(
    event.currentTarget,
    async () => {
      try {
        await auth.submitPasskey({ rememberDevice: $("#remember-device").checked });
      } catch (error) {
        restartIfOver(error);
        throw error;
      }
      notify("");
      await showAccount();
    },
    PASSKEY_MESSAGES,
  ),
);

// Passwordless: a passkey alone, picked from those the browser holds for this site.
$("#passkey-signin").addEventListener("click", (event) =>
  busy(
    event.currentTarget,
    async () => {
      notify("");
      await auth.loginWithPasskey();
      $("#password").value = "";
      await showAccount();
    },
    PASSKEY_MESSAGES,
  ),
);

$("#resend").addEventListener("click", (event) =>
  busy(event.currentTarget, async () => {
    await auth.resendCode();
    notify("A new code is on its way. The previous one no longer works.");
    $("#code-input").focus();
  }),
);

for (const other of document.querySelectorAll("#code [data-use-method]")) {
  other.addEventListener("click", () => {
    pending.method = other.dataset.useMethod;
    renderCodeStep();
    focusFirstShown("#code-input, #use-passkey");
  });
}

$("#restart").addEventListener("click", () => {
  notify("");
  show("#signin");
});

$("#reload").addEventListener("click", (event) => busy(event.currentTarget, loadSessions));

$("#logout").addEventListener("click", (event) => busy(event.currentTarget, auth.logout));

$("#logout-all").addEventListener("click", (event) => busy(event.currentTarget, auth.logoutAll));

// --- second factors ---------------------------------------------------------------------

for (const cancel of document.querySelectorAll("#factors [data-cancel]")) {
  cancel.addEventListener("click", () => {
    openFactorForm(null);
    $("#totp-qr").replaceChildren();
    $("#totp-secret").textContent = "";
  });
}

$("#totp-start").addEventListener("click", () => {
  hideRecoveryCodes();
  openFactorForm("#totp-setup-form");
});

$("#codes-start").addEventListener("click", () => {
  hideRecoveryCodes();
  openFactorForm("#codes-form");
});

$("#passkey-start").addEventListener("click", () => {
  hideRecoveryCodes();
  openFactorForm("#passkey-add-form");
});

$("#totp-off-start").addEventListener("click", () => {
  hideRecoveryCodes();
  openFactorForm("#totp-off-form");
});

$("#totp-setup-form").addEventListener("submit", (event) => {
  event.preventDefault();
  busy(event.submitter || $("#totp-setup-form button"), async () => {
    const setup = await auth.setupTotp($("#totp-setup-password").value);
    notify("");
    openFactorForm("#totp-enrol");
    // The server's SVG, as an image: never parsed into this page's DOM (authsvc.js, svgImageUrl).
    const qr = document.createElement("img");
    qr.src = setup.qrImageUrl;
    qr.alt = "QR code to scan with your authenticator app";
    qr.width = 200;
    qr.height = 200;
    $("#totp-qr").replaceChildren(qr);
    // Grouped by four, as apps show and accept it.
    $("#totp-secret").textContent = setup.secret.replace(/(.{4})(?=.)/g, "$1 ");
  });
});

$("#totp-confirm-form").addEventListener("submit", (event) => {
  event.preventDefault();
  busy(event.submitter || $("#totp-confirm-form button"), async () => {
    let codes;
    try {
      codes = await auth.confirmTotp($("#totp-confirm-code").value);
    } catch (error) {
      $("#totp-confirm-code").value = "";
      throw error;
    }
    openFactorForm(null);
    $("#totp-qr").replaceChildren();
    $("#totp-secret").textContent = "";
    await loadFactors();
    if (codes.length) {
      notify("Your authenticator app is on: sign-ins now ask for its code.");
      showRecoveryCodes(codes);
    } else {
      notify("Your authenticator app is on: sign-ins now ask for its code. Your recovery codes still work.");
    }
  });
});

$("#codes-form").addEventListener("submit", (event) => {
  event.preventDefault();
  busy(event.submitter || $("#codes-form button"), async () => {
    const codes = await auth.regenerateRecoveryCodes($("#codes-password").value);
    openFactorForm(null);
    await loadFactors();
    notify("New recovery codes: the previous ones no longer work.");
    showRecoveryCodes(codes);
  });
});

$("#totp-off-form").addEventListener("submit", (event) => {
  event.preventDefault();
  busy(event.submitter || $("#totp-off-form button"), async () => {
    try {
      await auth.disableTotp($("#totp-off-password").value, $("#totp-off-code").value);
    } catch (error) {
      $("#totp-off-code").value = "";
      throw error;
    }
    openFactorForm(null);
    const status = await loadFactors();
    notify(
      status.methods.includes("email")
        ? "Your authenticator app is off: sign-ins ask for a code sent to your email again."
        : "Your authenticator app is off: sign-ins ask for your passkey.",
    );
  });
});

$("#passkey-add-form").addEventListener("submit", (event) => {
  event.preventDefault();
  busy(event.submitter || $("#passkey-add-form button"), async () => {
    const added = await auth.registerPasskey({
      password: $("#passkey-add-password").value,
      name: $("#passkey-add-name").value,
    });
    openFactorForm(null);
    await loadFactors();
    const message = `Your passkey “${added.name}” is added: sign-ins now ask for it, or take it alone.`;
    if (added.recoveryCodes.length) {
      notify(message);
      showRecoveryCodes(added.recoveryCodes);
    } else {
      notify(`${message} Your recovery codes still work.`);
    }
  });
});

$("#passkey-rename-form").addEventListener("submit", (event) => {
  event.preventDefault();
  busy(event.submitter || $("#passkey-rename-form button"), async () => {
    const name = $("#passkey-rename-name").value.trim();
    await auth.renamePasskey(chosenPasskey.id, name);
    openFactorForm(null);
    await loadFactors();
    notify(`Passkey renamed to “${name}”.`);
  });
});

$("#passkey-remove-form").addEventListener("submit", (event) => {
  event.preventDefault();
  busy(event.submitter || $("#passkey-remove-form button"), async () => {
    const { id, name } = chosenPasskey;
    await auth.removePasskey(id, { password: $("#passkey-remove-password").value });
    openFactorForm(null);
    chosenPasskey = null;
    const status = await loadFactors();
    notify(
      status.methods.includes("email")
        ? `Your passkey “${name}” is removed: sign-ins ask for a code sent to your email again.`
        : `Your passkey “${name}” is removed.`,
    );
  });
});

$("#recovery-done").addEventListener("click", () => {
  hideRecoveryCodes();
  $("#factor-actions button:not([hidden])").focus();
});

// --- routes: #/sign-up, #/forgot-password, #/password-reset?uid=…&token=… (the emailed link), and the
// --- emailed links of account.js: #/verify-email?key=…, #/confirm-email-change?key=…

// The uid and token of the reset link being followed.
let resetLink = null;

/** The page's #/… route: its path ("/sign-up") and its query. */
function currentRoute() {
  const hash = location.hash.replace(/^#/, "");
  const queryAt = hash.indexOf("?");
  return {
    path: queryAt === -1 ? hash : hash.slice(0, queryAt),
    params: new URLSearchParams(queryAt === -1 ? "" : hash.slice(queryAt + 1)),
  };
}

/** Show the view of a route that has one; false when there is none (the default: account or sign-in). */
function route(path, params) {
  if (path === "/sign-up") {
    notify("");
    show("#signup");
    return true;
  }
  if (path === "/forgot-password") {
    notify("");
    $("#forgot-email").value = $("#email").value;
    show("#forgot");
    return true;
  }
  if (path === "/password-reset") {
    const uid = params.get("uid");
    const token = params.get("token");
    if (uid && token) {
      resetLink = { uid, token };
      notify("");
      $("#reset-password").value = "";
      show("#reset");
    } else {
      history.replaceState(null, "", "#/forgot-password");
      show("#forgot");
      notify("This password reset link is incomplete. Ask for a new one.", "error");
    }
    return true;
  }
  return false;
}

let navigations = 0;

// A live session (refreshed if need be) shows the account, anything else the form.
async function start() {
  const navigation = ++navigations;
  // A link followed while the session was being looked for (the form is on screen from the
  // refused refresh's "signedout" already) wins over the answer of that look.
  const stillWanted = () => navigation === navigations;
  const { path, params } = currentRoute();
  let outcome = null;
  if (isEmailLink(path)) {
    // The key is posted first, so the account shown next is the one it changed (a verified or new
    // address), or the form when the change ended this browser's session. It then leaves the
    // address bar: it works once, and a reload would only be refused.
    outcome = await followEmailLink(path, params);
    if (!stillWanted()) return;
    leaveRoute();
  } else if (route(path, params)) {
    return;
  }
  let signedIn = true;
  try {
    await showAccount(stillWanted);
  } catch (error) {
    if (!stillWanted()) return;
    signedIn = false;
    if (!(error instanceof auth.AuthError && error.signedOut)) notify(describeError(error), "error");
    show("#signin");
  }
  // Said last: the look for a session clears the notice when it finds none.
  if (outcome && stillWanted()) notify(signedIn ? outcome.message : outcome.signedOutMessage, outcome.kind);
}

addEventListener("hashchange", start);

await start();
