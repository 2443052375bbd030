// The account's whole life on the demo page: its address (verified, changed from an emailed link),
// its data (downloaded), its end (deleted). demo.js shows the account and routes the links here.
import * as auth from "../authsvc/authsvc.js";
import { $, busy, describeError, notify, PASSKEY_MESSAGES } from "./page.js";

const EXPORT_FILENAME = "authsvc-export.json";

// The emailed links (VERIFY_EMAIL_URL, EMAIL_CHANGE_URL): what each posts its key to, and what the
// page says once it is through — to the signed-in account, or above the sign-in form.
const EMAIL_LINKS = {
  "/verify-email": {
    follow: auth.verifyEmail,
    message: "Your email address is verified.",
    signedOutMessage: "Your email address is verified. Sign in to continue.",
    incomplete: "This verification link is incomplete. Sign in and ask for a new one.",
  },
  "/confirm-email-change": {
    follow: auth.confirmEmailChange,
    message: "Your new email address is confirmed: your other sessions have ended.",
    signedOutMessage: "Your new email address is confirmed. Sign in with it.",
    incomplete: "This confirmation link is incomplete. Ask for the change again.",
  },
};

// A recovery code is xxxxx-xxxxx (the dash optional); an app's code is 6 digits.
const APP_CODE = /^\s*\d{6}\s*$/;

/** Whether the #/… route `path` is one of the emailed links. */
export function isEmailLink(path) {
  return Object.hasOwn(EMAIL_LINKS, path);
}

/**
 * Post the key of the emailed link at `path` (no session needed: it is
 * opened from the mailbox). Resolves to what to tell the user:
 * {message, signedOutMessage, kind}; it never rejects.
 */
export async function followEmailLink(path, params) {
  const link = EMAIL_LINKS[path];
  const key = params.get("key");
  if (!key) return { message: link.incomplete, signedOutMessage: link.incomplete, kind: "error" };
  try {
    await link.follow(key);
  } catch (error) {
    const message = describeError(error);
    return { message, signedOutMessage: message, kind: "error" };
  }
  return { message: link.message, signedOutMessage: link.signedOutMessage, kind: "info" };
}

// The account's address, as `me` last told it.
let address = null;

/** The signed-in user's address and whether it is verified; a way to a new link while it is not. */
export function showAddress(user) {
  address = user.email;
  const status = $("#email-status");
  status.textContent = user.email_verified ? "Verified" : "Not verified";
  status.className = `status ${user.email_verified ? "verified" : "unverified"}`;
  $("#verify-note").hidden = Boolean(user.email_verified);
}

const ACCOUNT_FORMS = ["#email-change-form", "#delete-form"];

/** Open one of this part's forms (or none), emptied; the button that opened it hides meanwhile. */
function openForm(id) {
  for (const form of ACCOUNT_FORMS) {
    $(form).hidden = form !== id;
    for (const input of $(form).querySelectorAll("input")) input.value = "";
  }
  $("#email-change-start").hidden = id === "#email-change-form";
  $("#delete-start").hidden = id === "#delete-form";
  if (id) $(id).querySelector("input").focus();
}

/** Forget what the account's panels show: the page is signed out. */
export function clearAccountPanels() {
  address = null;
  openForm(null);
  $("#email-status").textContent = "";
  $("#email-status").className = "status";
  $("#verify-note").hidden = true;
}

for (const cancel of document.querySelectorAll("#address [data-cancel], #delete-panel [data-cancel]")) {
  cancel.addEventListener("click", () => openForm(null));
}

$("#verify-resend").addEventListener("click", (event) =>
  busy(event.currentTarget, async () => {
    await auth.resendVerification();
    // At most one link a minute: within it the last one still works, and the server answers the same.
    notify(`A verification link is on its way to ${address}. Open it to verify your address.`);
  }),
);

$("#email-change-start").addEventListener("click", () => openForm("#email-change-form"));

$("#email-change-form").addEventListener("submit", (event) => {
  event.preventDefault();
  busy(event.submitter || $("#email-change-form button"), async () => {
    const newEmail = $("#new-email").value.trim();
    await auth.changeEmail({ password: $("#email-change-password").value, newEmail });
    openForm(null);
    notify(`A confirmation link is on its way to ${newEmail}. Your address changes when you open it.`);
  });
});

$("#export").addEventListener("click", (event) =>
  busy(event.currentTarget, async () => {
    // Fetched by the client (a refresh if need be), then saved from memory: no token rides in a URL.
    auth.downloadJson(await auth.exportAccount(), EXPORT_FILENAME);
    notify(`Your data is saved as ${EXPORT_FILENAME}.`);
  }),
);

// The second factors the user holds, as the delete form last learned them: with an app factor its
// answer is asked for too — the passkey (the browser asks for it once the form is sent), or a code.
let factorMethods = [];
// How the delete form answers: "webauthn", "code", or null (no app factor: the password alone).
let deleteWith = null;

function canAnswerWithCode() {
  return factorMethods.includes("totp") || factorMethods.includes("recovery");
}

/** Show the delete form's second factor: the passkey's note, or the code box; and the way to the other. */
function showDeleteAnswer() {
  const passkey = deleteWith === "webauthn";
  $("#delete-code-field").hidden = deleteWith !== "code";
  $("#delete-code").required = deleteWith === "code";
  $("#delete-code").value = "";
  $("label[for=delete-code]").textContent = factorMethods.includes("totp")
    ? "Code from the app, or a recovery code"
    : "A recovery code";
  $("#delete-passkey-note").hidden = !passkey;
  $("#delete-switch-line").hidden = !(factorMethods.includes("webauthn") && canAnswerWithCode());
  $("#delete-switch").textContent = passkey ? "Use a code instead" : "Use your passkey instead";
}

$("#delete-start").addEventListener("click", (event) =>
  busy(event.currentTarget, async () => {
    const { methods } = await auth.twoFactorStatus();
    factorMethods = methods;
    if (methods.includes("webauthn")) deleteWith = "webauthn";
    else if (methods.includes("totp")) deleteWith = "code";
    else deleteWith = null;
    openForm("#delete-form");
    showDeleteAnswer();
  }),
);

$("#delete-switch").addEventListener("click", () => {
  deleteWith = deleteWith === "webauthn" ? "code" : "webauthn";
  showDeleteAnswer();
  if (deleteWith === "code") $("#delete-code").focus();
});

$("#delete-form").addEventListener("submit", (event) => {
  event.preventDefault();
  busy(
    event.submitter || $("#delete-form button"),
    async () => {
      const answer = { password: $("#delete-password").value };
      if (deleteWith === "webauthn") {
        answer.method = "webauthn";
      } else if (deleteWith === "code") {
        const code = $("#delete-code").value;
        answer.method = APP_CODE.test(code) && factorMethods.includes("totp") ? "totp" : "recovery";
        answer.code = code;
      }
      try {
        await auth.deleteAccount(answer);
      } catch (error) {
        // A code is good for one try; the password stays for the next.
        $("#delete-code").value = "";
        throw error;
      }
      // Signed out: the page's "signedout" listener shows the sign-in form, saying why.
    },
    deleteWith === "webauthn" ? PASSKEY_MESSAGES : {},
  );
});
