// What every part of the demo page shares: its views, its notice, and running an action with a busy button.
import { AuthError } from "../authsvc/authsvc.js";

export const $ = (selector) => document.querySelector(selector);

const views = ["#loading", "#signin", "#signup", "#forgot", "#reset", "#code", "#account"];

export function show(view) {
  // Focus moves only when the view changes: showing the one on screen again must not pull the
  // cursor out of a box the user is typing in.
  const appears = $(view).hidden;
  for (const id of views) $(id).hidden = id !== view;
  if (!appears) return;
  const focus = {
    "#signin": "#email",
    "#signup": "#signup-email",
    "#forgot": "#forgot-email",
    "#reset": "#reset-password",
    // The code box, or the passkey button when the step asks for a passkey.
    "#code": "#code-input, #use-passkey",
  }[view];
  if (focus) focusFirstShown(focus);
}

/** Focus the first of the elements `selector` matches that is on screen (not inside anything hidden). */
export function focusFirstShown(selector) {
  const target = [...document.querySelectorAll(selector)].find((element) => !element.closest("[hidden]"));
  if (target) target.focus();
}

export function notify(message, kind = "info") {
  const notice = $("#notice");
  notice.textContent = message || "";
  notice.className = `notice ${kind}`;
  notice.hidden = !message;
}

export function describeError(error) {
  if (error instanceof AuthError) {
    if (error.code === "rate_limited" && error.retryAfter) {
      return `Please wait ${error.retryAfter} seconds before trying again.`;
    }
    // A refused field (a password the server's rules refuse): its own messages say more than "Invalid input."
    const messages = error.errors ? Object.values(error.errors).flat().filter((m) => typeof m === "string") : [];
    return messages.length ? messages.join(" ") : error.message;
  }
  return "authsvc could not be reached. Check your connection and try again.";
}

/**
 * Run `action` with the button disabled, showing any error it throws.
 * `messages`: what to say instead of the server's detail for some error
 * codes (a passkey refused is "invalid_code", whose detail speaks of a code).
 */
export async function busy(button, action, messages = {}) {
  button.disabled = true;
  try {
    await action();
  } catch (error) {
    // A session that ended under the action has already sent the page back to the form, saying why.
    if (!(error instanceof AuthError && error.signedOut)) {
      const instead = error instanceof AuthError && Object.hasOwn(messages, error.code) ? messages[error.code] : null;
      notify(instead || describeError(error), "error");
    }
  } finally {
    button.disabled = false;
  }
}

/** What the page says when authsvc refuses a passkey's answer (busy's `messages`). */
export const PASSKEY_MESSAGES = {
  invalid_code: "This passkey was not accepted. Try again, or use another way.",
};
