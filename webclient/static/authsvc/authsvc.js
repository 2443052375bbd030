/**
 * authsvc.js — the browser client of authsvc. A dependency-free ES module.
 *
 *   import * as auth from "/static/authsvc/authsvc.js";
 *
 *   auth.on("signedout", () => showSignInForm());
 *   await auth.register(email, password);   // a new account; sign in next
 *   const step = await auth.login(email, password);   // {status: "signed_in"} or {status: "code_required", methods, expiresIn}
 *   if (step.status === "code_required") {
 *     // methods: what this user can finish with, best first ("webauthn", "totp", "email", then "recovery").
 *     if (step.methods[0] === "webauthn") await auth.submitPasskey({rememberDevice: rememberMe});
 *     else await auth.submitCode(codeFromTheAppOrEmail, {method: step.methods[0], rememberDevice: rememberMe});
 *   }
 *   await auth.loginWithPasskey();   // or no password at all: a passkey alone signs in
 *   const user = await auth.me();
 *   const response = await auth.api("/api/orders/", {method: "POST", json: {item: 42}});
 *
 * The tokens travel in HttpOnly cookies (the "cookie" transport): this
 * module never reads, keeps or stores a token, so no script on the page —
 * an injected one included — can steal one from it, and nothing lands in
 * localStorage or sessionStorage (OWASP HTML5 Security Cheat Sheet, "Local
 * Storage"). What it does:
 *
 * - every request goes out with `credentials: "include"`;
 * - unsafe requests (POST, PUT, PATCH, DELETE) to authsvc carry the CSRF
 *   double-submit header, X-CSRFToken: the `csrftoken` cookie when the page
 *   is on authsvc's origin, else the token that GET /api/auth/csrf/ returns
 *   (fetched once, when needed);
 * - a 401 triggers one refresh, shared by every request that failed at the
 *   same moment (one in-flight promise), then one retry of each. Refresh
 *   tokens rotate and a reused one ends the session, so two refreshes in a
 *   row from one page would be waste at best;
 * - a refresh that is refused signs the page out: listeners of "signedout"
 *   are called with {reason: "expired", code} in event.detail;
 * - a 401 that refuses an answer — a wrong code (`invalid_code`, also from
 *   confirmTotp and disableTotp), a wrong password, a dead login challenge —
 *   is not about the session: it is handed back as an AuthError at once,
 *   with no refresh and no retry (a retry would spend one more of the few
 *   tries a code has).
 *
 * Second factors, once signed in: twoFactorStatus(), setupTotp(password) →
 * show its QR code (`qrImageUrl`, for an <img>) and secret, confirmTotp(code)
 * → the recovery codes, to show once; regenerateRecoveryCodes(password),
 * disableTotp(password, code). Passkeys and security keys (WebAuthn):
 * registerPasskey({password, name}) → {id, name, recoveryCodes}, passkeys(),
 * renamePasskey(id, name), removePasskey(id, {password}); they sign in as the
 * second step (submitPasskey) or alone (loginWithPasskey). The options
 * authsvc sends are decoded by the browser's PublicKeyCredential.parse…FromJSON
 * where it has them (else by this module), and the answer is the credential's
 * toJSON(). A ceremony the browser does not finish (the user cancels, no
 * authenticator, no WebAuthn) rejects with a PasskeyError: an AuthError with
 * status 0 and a "passkey_…" code; nothing was sent to authsvc.
 * Remembered browsers: devices(), forgetDevice(id).
 * Without a session: register(), requestPasswordReset(email) and, from the
 * emailed link, confirmPasswordReset(uid, token, newPassword).
 *
 * The account's life: verifyEmail(key) and confirmEmailChange(key) from the
 * emailed links (no session needed), resendVerification(), changeEmail({password,
 * newEmail}), exportAccount() → what authsvc holds about the user (see
 * downloadJson), deleteAccount({password, method, code}) → signed out (method
 * "webauthn" asks the browser for a passkey instead of a code).
 *
 * A page on another origin (app.example.com talking to auth.example.com)
 * calls `configure({baseUrl: "https://auth.example.com"})` first; authsvc
 * must then list that origin in CORS_ALLOWED_ORIGINS. The cookies are
 * SameSite=Lax, so both hosts must be the same site.
 */

const AUTH = "/api/auth/";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);
// 401s that refuse what was sent, not the session: a refresh would not cure them.
const ANSWER_REFUSED = new Set([
  "invalid_code",
  "invalid_credentials",
  "challenge_missing",
  "challenge_invalid",
  "challenge_expired",
  "challenge_locked",
  "challenge_used",
]);

/** An error answer of authsvc: `status`, and the stable `code` and `detail` of its body. */
export class AuthError extends Error {
  constructor(status, body = {}, retryAfter = null) {
    super(body.detail || `HTTP ${status}`);
    this.name = "AuthError";
    this.status = status;
    this.code = body.code || `http_${status}`;
    this.detail = this.message;
    this.errors = body.errors || null;
    /** Seconds to wait before trying again (429, 503), or null. */
    this.retryAfter = retryAfter;
    /** True when the request failed because the session is over; "signedout" listeners have been told. */
    this.signedOut = false;
  }
}

async function readBody(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

async function errorFrom(response) {
  const body = (await readBody(response)) || {};
  const retryAfter = Number.parseInt(response.headers.get("Retry-After"), 10);
  return new AuthError(response.status, body, Number.isNaN(retryAfter) ? null : retryAfter);
}

async function errorCode(response) {
  const body = await readBody(response.clone());
  return body && typeof body.code === "string" ? body.code : null;
}

/**
 * An `<img>` source for an SVG document given as text (the QR code of
 * setupTotp): an image runs no script and loads nothing, whatever the markup
 * holds, so the page never inserts foreign markup into its own DOM. The
 * text is parsed by an inert DOMParser (nothing in it runs) and serialized
 * back as XML, which adds the SVG namespace an inline `<svg>` leaves out and
 * a standalone SVG image needs. Null when the text holds no `<svg>`.
 */
export function svgImageUrl(svgText) {
  const svg = new DOMParser().parseFromString(String(svgText), "text/html").querySelector("svg");
  if (!svg) return null;
  return `data:image/svg+xml,${encodeURIComponent(new XMLSerializer().serializeToString(svg))}`;
}

/**
 * Save `data` as a JSON file named `filename` (exportAccount's answer, say),
 * the way a download link would: through a Blob in this page's memory, so
 * the data is not fetched again and no token rides in a URL.
 */
export function downloadJson(data, filename) {
  const blob = new Blob([`${JSON.stringify(data, null, 2)}\n`], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.hidden = true;
  document.body.append(link);
  try {
    link.click();
  } finally {
    link.remove();
    // Revoked after the click has been handled: the download holds its own reference by then.
    setTimeout(() => URL.revokeObjectURL(url), 0);
  }
}

/**
 * A passkey ceremony the browser did not finish: nothing reached authsvc.
 * `status` is 0 and `code` one of "passkey_cancelled" (the user closed the
 * prompt, it timed out, or no authenticator holds a passkey it can use),
 * "passkey_exists" (this authenticator already holds one for the account),
 * "passkey_unsupported" (no WebAuthn here: an old browser, or a page that is
 * not a secure context) or "passkey_failed"; `cause` is the browser's DOMException.
 */
export class PasskeyError extends AuthError {
  constructor(code, detail, cause = null) {
    super(0, { code, detail });
    this.name = "PasskeyError";
    this.cause = cause;
  }
}

function base64urlToBytes(text) {
  const base64 = String(text).replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

function bytesToBase64url(buffer) {
  const bytes = ArrayBuffer.isView(buffer)
    ? new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
    : new Uint8Array(buffer);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function withBinaryIds(descriptors) {
  return descriptors && descriptors.map((descriptor) => ({ ...descriptor, id: base64urlToBytes(descriptor.id) }));
}

/**
 * The options of navigator.credentials.create() from their standard JSON
 * form (what authsvc sends): the browser's own parser where it has one,
 * else the same decoding of the three binary members by hand.
 */
function creationOptions(json) {
  if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function") {
    return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  }
  return {
    ...json,
    challenge: base64urlToBytes(json.challenge),
    user: { ...json.user, id: base64urlToBytes(json.user.id) },
    excludeCredentials: withBinaryIds(json.excludeCredentials),
  };
}

/** The options of navigator.credentials.get(), likewise. */
function requestOptions(json) {
  if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function") {
    return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  }
  return {
    ...json,
    challenge: base64urlToBytes(json.challenge),
    allowCredentials: withBinaryIds(json.allowCredentials),
  };
}

/** A PublicKeyCredential as JSON, the form authsvc reads: its own toJSON() where it has one, else built alike. */
function credentialJson(credential) {
  if (typeof credential.toJSON === "function") return credential.toJSON();
  const { response } = credential;
  const json = {
    id: credential.id,
    rawId: bytesToBase64url(credential.rawId),
    type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment ?? null,
    clientExtensionResults: credential.getClientExtensionResults(),
    response: { clientDataJSON: bytesToBase64url(response.clientDataJSON) },
  };
  if (response.attestationObject) {
    json.response.attestationObject = bytesToBase64url(response.attestationObject);
    json.response.transports = typeof response.getTransports === "function" ? response.getTransports() : [];
  } else {
    json.response.authenticatorData = bytesToBase64url(response.authenticatorData);
    json.response.signature = bytesToBase64url(response.signature);
    json.response.userHandle = response.userHandle ? bytesToBase64url(response.userHandle) : null;
  }
  return json;
}

const CEREMONY_REFUSALS = {
  NotAllowedError: ["passkey_cancelled", "The passkey was not used: the request was cancelled or timed out."],
  AbortError: ["passkey_cancelled", "The passkey was not used: the request was cancelled."],
  InvalidStateError: ["passkey_exists", "This authenticator already holds a passkey for this account."],
  NotSupportedError: ["passkey_unsupported", "This browser cannot use a passkey here."],
  SecurityError: ["passkey_failed", "The browser refused to use a passkey for this site."],
};

/**
 * Run navigator.credentials[`operation`] ("create" or "get") with the
 * options authsvc sent (`{publicKey}`, standard JSON); resolves to the
 * credential as JSON. What the browser refuses rejects as a PasskeyError.
 */
async function passkeyCeremony(operation, { publicKey }) {
  if (!globalThis.isSecureContext || typeof globalThis.PublicKeyCredential !== "function") {
    throw new PasskeyError("passkey_unsupported", "This browser cannot use a passkey here.");
  }
  let credential;
  try {
    const options = operation === "create" ? creationOptions(publicKey) : requestOptions(publicKey);
    credential = await navigator.credentials[operation]({ publicKey: options });
  } catch (error) {
    const [code, detail] = CEREMONY_REFUSALS[error && error.name] || [
      "passkey_failed",
      "The passkey could not be used.",
    ];
    throw new PasskeyError(code, detail, error);
  }
  if (!credential) throw new PasskeyError("passkey_cancelled", "The passkey was not used.");
  return credentialJson(credential);
}

function readCookie(name) {
  for (const pair of document.cookie.split(";")) {
    const [key, ...value] = pair.trim().split("=");
    if (key === name) return decodeURIComponent(value.join("="));
  }
  return null;
}

/**
 * A client of one authsvc. Options:
 * - baseUrl: authsvc's origin (and path prefix, if any); default: this page's origin;
 * - csrfCookieName: Django's CSRF_COOKIE_NAME, default "csrftoken";
 * - fetch: the fetch function to use, default the global one.
 */
export function createClient(options = {}) {
  let baseUrl = "";
  let csrfCookieName = "csrftoken";
  let fetchImpl = (...args) => globalThis.fetch(...args);
  const events = new EventTarget();

  let refreshing = null; // the one refresh in flight, shared by every request that waits for it
  let generation = 0; // bumped when the cookies change (sign-in, refresh)
  let requestsSent = 0; // numbers every request, in the order they leave
  let refusedThrough = 0; // the requests up to this number left with the cookies of a session a refresh found over
  let serverCsrfToken = null; // from GET csrf/, when the cookie is not ours to read
  let csrfLoading = null;
  let currentSessionId = null;
  const signedOutResponses = new WeakSet(); // 401s that a refused refresh could not cure

  function configure(newOptions = {}) {
    if ("baseUrl" in newOptions) baseUrl = String(newOptions.baseUrl || "").replace(/\/+$/, "");
    if (newOptions.csrfCookieName) csrfCookieName = newOptions.csrfCookieName;
    if (newOptions.fetch) fetchImpl = newOptions.fetch;
    serverCsrfToken = null;
  }
  configure(options);

  function authOrigin() {
    return new URL(baseUrl || globalThis.location.href, globalThis.location.href).origin;
  }

  function resolve(path) {
    // "/api/…" goes to authsvc (after its path prefix, if any); a full URL is left alone.
    const target = baseUrl && path.startsWith("/") ? baseUrl + path : path;
    return new URL(target, globalThis.location.href).href;
  }

  function emit(type, detail) {
    events.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** Listen to "signedin" or "signedout"; returns a function that stops listening. */
  function on(type, listener) {
    events.addEventListener(type, listener);
    return () => events.removeEventListener(type, listener);
  }

  async function csrfToken({ fresh = false } = {}) {
    // Only a page on authsvc's own origin reads authsvc's cookie: elsewhere
    // document.cookie holds the app's cookies, maybe a csrftoken of its own.
    const sameOrigin = authOrigin() === globalThis.location.origin;
    if (!fresh) {
      const fromCookie = sameOrigin ? readCookie(csrfCookieName) : null;
      if (fromCookie) return fromCookie;
      if (serverCsrfToken) return serverCsrfToken;
    }
    if (!csrfLoading) {
      csrfLoading = (async () => {
        const response = await fetchImpl(resolve(`${AUTH}csrf/`), {
          credentials: "include",
          headers: { Accept: "application/json" },
        });
        if (!response.ok) throw await errorFrom(response);
        serverCsrfToken = (await response.json()).csrf_token;
      })().finally(() => {
        csrfLoading = null;
      });
    }
    await csrfLoading;
    return (sameOrigin && readCookie(csrfCookieName)) || serverCsrfToken;
  }

  async function isCsrfFailure(response) {
    return (await errorCode(response)) === "csrf_failed";
  }

  /**
   * One refresh for everyone who asks while it runs. `sentAt` is the
   * generation a failed request left with: when the cookies have changed
   * since, that request only needs to be sent again. `number`: a request
   * that was already on its way when a refresh was refused (its 401 came
   * back late) shares that refusal — no second refresh and no second
   * "signedout", which would send the page back to its form once more while
   * the user types in it.
   */
  function refreshAfter(sentAt, number) {
    if (generation !== sentAt) return Promise.resolve(true);
    if (number <= refusedThrough) return Promise.resolve(false);
    if (!refreshing) {
      refreshing = (async () => {
        const response = await send(`${AUTH}refresh/`, { method: "POST", refreshOn401: false });
        if (response.ok) {
          const body = await readBody(response);
          if (body && body.session_id) currentSessionId = body.session_id;
          generation += 1;
          return true;
        }
        if (response.status === 401) {
          // The session is over (expired, revoked, or its refresh token was reused).
          const { code } = (await readBody(response)) || {};
          currentSessionId = null;
          refusedThrough = requestsSent;
          emit("signedout", { reason: "expired", code: code || "not_authenticated" });
          return false;
        }
        throw await errorFrom(response);
      })().finally(() => {
        refreshing = null;
      });
    }
    return refreshing;
  }

  async function send(path, init = {}) {
    const { json, refreshOn401 = true, ...fetchInit } = init;
    const url = resolve(path);
    const headers = new Headers(fetchInit.headers);
    if (json !== undefined) {
      headers.set("Content-Type", "application/json");
      fetchInit.body = JSON.stringify(json);
    }
    if (!headers.has("Accept")) headers.set("Accept", "application/json");
    const method = (fetchInit.method || (json !== undefined ? "POST" : "GET")).toUpperCase();
    // The CSRF token is authsvc's: it goes to authsvc and nowhere else.
    const needsCsrf = !SAFE_METHODS.has(method) && new URL(url).origin === authOrigin();

    let number = 0;
    const attempt = async (freshCsrf = false) => {
      if (needsCsrf) headers.set("X-CSRFToken", await csrfToken({ fresh: freshCsrf }));
      number = ++requestsSent;
      return fetchImpl(url, { ...fetchInit, method, headers, credentials: "include" });
    };

    const sentAt = generation;
    let response = await attempt();
    if (response.status === 403 && needsCsrf && (await isCsrfFailure(response))) {
      // The token we held went stale (a new csrftoken cookie): take a fresh one, once.
      response = await attempt(true);
    }
    if (response.status !== 401 || !refreshOn401) return response;
    // A wrong code or password: the session is fine, and a retry would spend another try.
    if (ANSWER_REFUSED.has(await errorCode(response))) return response;
    if (!(await refreshAfter(sentAt, number))) {
      signedOutResponses.add(response);
      return response;
    }
    return attempt();
  }

  async function call(path, init) {
    const response = await send(path, init);
    if (!response.ok) {
      const error = await errorFrom(response);
      error.signedOut = signedOutResponses.has(response);
      throw error;
    }
    return readBody(response);
  }

  function signedIn(body) {
    // The body also holds the access token; the cookie already carries it and we do not keep it.
    currentSessionId = body.session_id;
    generation += 1;
    emit("signedin", { sessionId: currentSessionId });
    return { status: "signed_in", sessionId: currentSessionId };
  }

  return {
    configure,
    on,

    /**
     * fetch() against authsvc (paths starting with "/" go to baseUrl) or any
     * URL, with cookies, the CSRF header on unsafe requests to authsvc, and
     * one shared refresh + one retry on a 401. `json` is sent as a JSON body.
     * Resolves to the Response, like fetch; a body must be re-sendable
     * (a string, FormData, Blob…), not a stream.
     */
    api: (path, options = {}) => send(path, options),

    /** Create an account: resolves to {id, email}. It does not sign in: call login() next. */
    register: (email, password) =>
      call(`${AUTH}register/`, { method: "POST", json: { email, password }, refreshOn401: false }),

    /**
     * Step one. Resolves to {status: "signed_in", sessionId} (no second factor
     * applies, or this browser is remembered) or {status: "code_required",
     * methods, expiresIn}: `methods` are the second factors this user can
     * finish with, best first — "webauthn", "totp" (an authenticator app),
     * "email" (a code was just mailed; only for users with no app), then
     * "recovery" while the user has recovery codes left.
     */
    async login(email, password) {
      const body = await call(`${AUTH}login/`, {
        method: "POST",
        json: { email, password, transport: "cookie" },
        refreshOn401: false,
      });
      if (body.two_factor_required) {
        return { status: "code_required", methods: body.methods || ["email"], expiresIn: body.expires_in };
      }
      return signedIn(body);
    },

    /**
     * Sign in with a passkey alone, no email or password: the browser offers
     * the passkeys it holds for this site, the user picks one and unlocks it
     * (user verification: a fingerprint, a face, the device's PIN). Resolves
     * to {status: "signed_in", sessionId}, as login() does. A passkey authsvc
     * refuses (unknown, removed, not verified) rejects with code
     * "invalid_code"; a ceremony the browser does not finish with a
     * PasskeyError ("passkey_cancelled"…).
     */
    async loginWithPasskey() {
      const options = await call(`${AUTH}login/passkey/begin/`, { method: "POST", json: {}, refreshOn401: false });
      const credential = await passkeyCeremony("get", options);
      const body = await call(`${AUTH}login/passkey/`, {
        method: "POST",
        json: { credential, transport: "cookie" },
        refreshOn401: false,
      });
      return signedIn(body);
    },

    /**
     * Step two: the answer for one of the methods login() listed — the 6-digit
     * code from the email or the app, or a recovery code. `method` defaults to
     * the first listed ("webauthn" is answered with submitPasskey instead).
     * `rememberDevice`: this browser's next password logins skip the second
     * factor (an HttpOnly cookie; see devices()). The pending
     * challenge is an HttpOnly cookie. A wrong code rejects with code
     * "invalid_code"; one that ends the challenge with a "challenge_…" code.
     */
    async submitCode(code, { method, rememberDevice = false } = {}) {
      const json = { code: String(code).trim(), remember_device: Boolean(rememberDevice), transport: "cookie" };
      if (method) json.method = method;
      const body = await call(`${AUTH}login/2fa/`, { method: "POST", json, refreshOn401: false });
      return signedIn(body);
    },

    /**
     * Step two with a passkey (login() listed "webauthn"): the browser asks
     * for one of the user's passkeys or security keys, and its answer
     * finishes the sign-in. `rememberDevice` as for submitCode. A passkey
     * authsvc refuses rejects with code "invalid_code" (the sign-in can be
     * tried again, up to the challenge's tries); a ceremony the browser does
     * not finish with a PasskeyError, and costs no try.
     */
    async submitPasskey({ rememberDevice = false } = {}) {
      const options = await call(`${AUTH}login/2fa/webauthn/begin/`, { method: "POST", json: {}, refreshOn401: false });
      const credential = await passkeyCeremony("get", options);
      const json = { method: "webauthn", credential, remember_device: Boolean(rememberDevice), transport: "cookie" };
      const body = await call(`${AUTH}login/2fa/`, { method: "POST", json, refreshOn401: false });
      return signedIn(body);
    },

    /** Email a new code; the previous one stops working. Too soon: rejects with code "rate_limited". */
    async resendCode() {
      await call(`${AUTH}login/2fa/resend/`, { method: "POST", json: {}, refreshOn401: false });
    },

    /** The signed-in user: {id, email, email_verified, two_factor_enabled, date_joined, is_staff}. */
    me: () => call(`${AUTH}me/`),

    /** The user's active sessions, newest first; the one of this browser has `current: true`. */
    async sessions() {
      const list = await call(`${AUTH}sessions/`);
      const current = list.find((session) => session.current);
      if (current) currentSessionId = current.id;
      return list;
    },

    /** Revoke one session; revoking this browser's own is a sign-out (its cookies are cleared too). */
    async revokeSession(id) {
      await call(`${AUTH}sessions/${encodeURIComponent(id)}/`, { method: "DELETE" });
      if (id === currentSessionId) {
        await call(`${AUTH}logout/`, { method: "POST", refreshOn401: false });
        currentSessionId = null;
        emit("signedout", { reason: "revoked" });
      }
    },

    /** Email a password reset link to the account with this address, if there is one. The answer never says. */
    async requestPasswordReset(email) {
      await call(`${AUTH}password/reset/`, { method: "POST", json: { email }, refreshOn401: false });
    },

    /**
     * Set a new password from the emailed link's `uid` and `token`. Every
     * session of the user ends and remembered browsers are forgotten: sign in
     * again. A used or old link rejects with code "reset_token_invalid"; a
     * password the server's rules refuse with "invalid" and `errors.new_password`.
     */
    async confirmPasswordReset(uid, token, newPassword) {
      await call(`${AUTH}password/reset/confirm/`, {
        method: "POST",
        json: { uid, token, new_password: newPassword },
        refreshOn401: false,
      });
    },

    /**
     * The user's second factors: {methods, recovery_codes_left, webauthn}.
     * `methods` are what a login can finish with (as login() lists them):
     * "totp" in it means an authenticator app is set up.
     */
    twoFactorStatus: () => call(`${AUTH}2fa/`),

    /**
     * Begin setting up an authenticator app (pending until confirmTotp).
     * Resolves to {secret, otpauthUri, qrSvg, qrImageUrl}: show the QR code
     * as `<img src=qrImageUrl>` (see svgImageUrl) and the secret for typing
     * in. A wrong password rejects with code "invalid_password"; an app
     * already set up with "factor_exists".
     */
    async setupTotp(password) {
      const body = await call(`${AUTH}2fa/totp/setup/`, { method: "POST", json: { password } });
      return {
        secret: body.secret,
        otpauthUri: body.otpauth_uri,
        qrSvg: body.qr_svg,
        qrImageUrl: svgImageUrl(body.qr_svg),
      };
    },

    /**
     * Confirm the app with a first code from it; from now on logins ask for
     * the app, and no code is emailed. Resolves to the new recovery codes
     * (ten, shown once: only their hashes are kept), or [] when the user
     * still had codes. A wrong code rejects with code "invalid_code".
     */
    async confirmTotp(code) {
      const body = await call(`${AUTH}2fa/totp/confirm/`, { method: "POST", json: { code: String(code).trim() } });
      return body.recovery_codes;
    },

    /** Remove the authenticator app, with the password and a code from the app or a recovery code. */
    async disableTotp(password, code) {
      await call(`${AUTH}2fa/totp/disable/`, { method: "POST", json: { password, code: String(code).trim() } });
    },

    /** Ten new recovery codes (shown once); the old ones stop working. */
    async regenerateRecoveryCodes(password) {
      const body = await call(`${AUTH}2fa/recovery-codes/`, { method: "POST", json: { password } });
      return body.recovery_codes;
    },

    /** The user's passkeys and security keys, oldest first: [{id, name, created_at, last_used_at}]. */
    async passkeys() {
      return (await call(`${AUTH}2fa/`)).webauthn;
    },

    /**
     * Add a passkey or security key: the password, then the browser asks the
     * user to create one (on this device, a phone, a key). `name` says which
     * it is in passkeys() (default "Passkey n"). Resolves to {id, name,
     * recoveryCodes}: ten recovery codes to show once when the user had none,
     * else []. From now on logins ask for an app factor and no code is
     * emailed. Rejects with "invalid_password"; "passkey_refused" when
     * authsvc does not accept what the browser made; a PasskeyError when the
     * browser does not make one ("passkey_exists": this authenticator holds
     * one for the account already).
     */
    async registerPasskey({ password, name = "" } = {}) {
      const options = await call(`${AUTH}2fa/webauthn/register/begin/`, { method: "POST", json: { password } });
      const credential = await passkeyCeremony("create", options);
      const json = { credential };
      if (name && String(name).trim()) json.name = String(name).trim();
      const body = await call(`${AUTH}2fa/webauthn/register/finish/`, { method: "POST", json });
      return { id: body.id, name: body.name, recoveryCodes: body.recovery_codes };
    },

    /** Give a passkey another name. An unknown id (or another user's) rejects with code "not_found". */
    async renamePasskey(id, name) {
      await call(`${AUTH}2fa/webauthn/${encodeURIComponent(id)}/rename/`, {
        method: "POST",
        json: { name: String(name).trim() },
      });
    },

    /**
     * Remove a passkey, with the password. With no app factor left, logins
     * ask for the emailed code again. A wrong password rejects with code
     * "invalid_password".
     */
    async removePasskey(id, { password } = {}) {
      await call(`${AUTH}2fa/webauthn/${encodeURIComponent(id)}/remove/`, { method: "POST", json: { password } });
    },

    /**
     * The user's remembered browsers, newest first:
     * [{id, created_at, last_used_at, user_agent, ip, current}]; this browser's has `current: true`.
     */
    devices: () => call(`${AUTH}devices/`),

    /** Forget a remembered browser: its next sign-in asks for the second factor again. */
    async forgetDevice(id) {
      await call(`${AUTH}devices/${encodeURIComponent(id)}/`, { method: "DELETE" });
    },

    /**
     * Prove the address with the key of the emailed verification link
     * (`#/verify-email?key=…`); no session needed. A used, expired or
     * garbage key rejects with code "verification_key_invalid".
     */
    async verifyEmail(key) {
      await call(`${AUTH}email/verify/`, { method: "POST", json: { key: String(key) }, refreshOn401: false });
    },

    /**
     * Mail a new verification link: signed in, to the account's address; with
     * `{email}`, to that address if it has an unverified account — the answer
     * is the same for any address. At most one link a minute: within it the
     * last link still works, and this resolves all the same.
     */
    async resendVerification({ email } = {}) {
      if (email) {
        await call(`${AUTH}email/verify/resend/`, { method: "POST", json: { email }, refreshOn401: false });
      } else {
        await call(`${AUTH}email/verify/resend/`, { method: "POST", json: {} });
      }
    },

    /**
     * Ask to move the account to `newEmail`: a link goes to the new address
     * (see confirmEmailChange) and a notice to the current one; nothing
     * changes until the link is opened. Rejects with code "invalid_password",
     * "email_taken", or "invalid" with `errors.email` (an address refused,
     * or one that looks like another account's).
     */
    async changeEmail({ password, newEmail }) {
      await call(`${AUTH}email/change/`, { method: "POST", json: { password, new_email: newEmail } });
    },

    /**
     * Take the new address, with the key of the link mailed to it
     * (`#/confirm-email-change?key=…`); no session needed. Every other session
     * of the user ends (the one that asked for the change stays). A used or
     * old key rejects with "verification_key_invalid"; an address taken
     * meanwhile with "email_taken".
     */
    async confirmEmailChange(key) {
      await call(`${AUTH}email/change/confirm/`, { method: "POST", json: { key: String(key) }, refreshOn401: false });
    },

    /**
     * Everything authsvc holds about the user, as the parsed JSON:
     * {exported_at, user, sessions, devices, factors, events, …}. Never a
     * secret, hash, code or token. Save it with downloadJson().
     */
    exportAccount: () => call(`${AUTH}account/export/`),

    /**
     * Delete the account, for good: every session ends, the address is free
     * again. The password, and where the user has an app factor
     * ("totp" or "webauthn" in twoFactorStatus().methods) its answer: with
     * `method` "webauthn" the browser asks for one of the user's passkeys;
     * with "totp" or "recovery", a `code` from the app or a recovery code. A
     * wrong password rejects with "invalid_password", a missing or wrong
     * answer with "invalid_code", a passkey ceremony the browser does not
     * finish with a PasskeyError. On success the server has cleared the
     * cookies and this page is signed out: "signedout" listeners get
     * {reason: "deleted"}.
     */
    async deleteAccount({ password, method, code } = {}) {
      const json = { password };
      if (method) json.method = method;
      if (method === "webauthn") {
        const options = await call(`${AUTH}2fa/webauthn/step-up/begin/`, { method: "POST", json: {} });
        json.credential = await passkeyCeremony("get", options);
      } else if (code) {
        json.code = String(code).trim();
      }
      await call(`${AUTH}account/delete/`, { method: "POST", json });
      currentSessionId = null;
      emit("signedout", { reason: "deleted" });
    },

    /** End this session and clear the cookies. */
    async logout() {
      await call(`${AUTH}logout/`, { method: "POST", refreshOn401: false });
      currentSessionId = null;
      emit("signedout", { reason: "logout" });
    },

    /** End every session of the user, on every device. Resolves to how many were revoked. */
    async logoutAll() {
      const { revoked } = await call(`${AUTH}logout/all/`, { method: "POST" });
      currentSessionId = null;
      emit("signedout", { reason: "logout_all", revoked });
      return revoked;
    },
  };
}

const client = createClient();

export const {
  configure,
  on,
  api,
  register,
  login,
  loginWithPasskey,
  submitCode,
  submitPasskey,
  resendCode,
  requestPasswordReset,
  confirmPasswordReset,
  verifyEmail,
  resendVerification,
  changeEmail,
  confirmEmailChange,
  exportAccount,
  deleteAccount,
  me,
  sessions,
  revokeSession,
  twoFactorStatus,
  setupTotp,
  confirmTotp,
  disableTotp,
  regenerateRecoveryCodes,
  passkeys,
  registerPasskey,
  renamePasskey,
  removePasskey,
  devices,
  forgetDevice,
  logout,
  logoutAll,
} = client;
