// The demo page at "/": everything it does goes through authsvc.js.
import * as auth from "../authsvc/authsvc.js";

const $ = (selector) => document.querySelector(selector);
const views = ["#loading", "#signin", "#code", "#account"];

const SIGNED_OUT_MESSAGES = {
  expired: "Your session has ended. Please sign in again.",
  revoked: "This session was revoked. Please sign in again.",
  logout: "You are signed out.",
};

const CHALLENGE_OVER = new Set([
  "challenge_missing",
  "challenge_invalid",
  "challenge_expired",
  "challenge_locked",
  "challenge_used",
]);

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

function show(view) {
  for (const id of views) $(id).hidden = id !== view;
  const focus = { "#signin": "#email", "#code": "#code-input" }[view];
  if (focus) $(focus).focus();
}

function notify(message, kind = "info") {
  const notice = $("#notice");
  notice.textContent = message || "";
  notice.className = `notice ${kind}`;
  notice.hidden = !message;
}

function describeError(error) {
  if (error instanceof auth.AuthError) {
    if (error.code === "rate_limited" && error.retryAfter) {
      return `Please wait ${error.retryAfter} seconds before trying again.`;
    }
    return error.message;
  }
  return "authsvc could not be reached. Check your connection and try again.";
}

/** Run `action` with the button disabled, showing any error it throws. */
async function busy(button, action) {
  button.disabled = true;
  try {
    await action();
  } catch (error) {
    // A session that ended under the action has already sent the page back to the form, saying why.
    if (!(error instanceof auth.AuthError && error.signedOut)) notify(describeError(error), "error");
  } finally {
    button.disabled = false;
  }
}

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

async function showAccount() {
  const [user] = await Promise.all([auth.me(), loadSessions()]);
  $("#user-email").textContent = user.email;
  show("#account");
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
  $("#sessions tbody").replaceChildren();
  $("#user-email").textContent = "";
  $("#password").value = "";
  show("#signin");
});

$("#signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const button = event.submitter || $("#signin-form button");
  busy(button, async () => {
    const email = $("#email").value.trim();
    const step = await auth.login(email, $("#password").value);
    $("#password").value = "";
    if (step.status === "code_required") {
      notify("");
      $("#code-email").textContent = email;
      $("#code-minutes").textContent = String(Math.max(1, Math.round(step.expiresIn / 60)));
      $("#code-input").value = "";
      show("#code");
    } else {
      notify("");
      await showAccount();
    }
  });
});

$("#code-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const button = event.submitter || $("#code-form button");
  busy(button, async () => {
    try {
      await auth.submitCode($("#code-input").value);
    } catch (error) {
      $("#code-input").value = "";
      if (error instanceof auth.AuthError && CHALLENGE_OVER.has(error.code)) {
        // This login attempt cannot be finished any more: start again.
        show("#signin");
      }
      throw error;
    }
    notify("");
    await showAccount();
  });
});

$("#resend").addEventListener("click", (event) =>
  busy(event.currentTarget, async () => {
    await auth.resendCode();
    notify("A new code is on its way. The previous one no longer works.");
    $("#code-input").focus();
  }),
);

$("#restart").addEventListener("click", () => {
  notify("");
  show("#signin");
});

$("#reload").addEventListener("click", (event) => busy(event.currentTarget, loadSessions));

$("#logout").addEventListener("click", (event) => busy(event.currentTarget, auth.logout));

$("#logout-all").addEventListener("click", (event) => busy(event.currentTarget, auth.logoutAll));

// On load: a live session (refreshed if need be) shows the account, anything else the form.
try {
  await showAccount();
} catch (error) {
  if (!(error instanceof auth.AuthError && error.signedOut)) notify(describeError(error), "error");
  show("#signin");
}
