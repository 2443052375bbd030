// The admin's second step with a passkey (accounts/admin_second_step.py):
// "Use a passkey" fetches the pending login's request options, asks the
// browser for an assertion, and posts it as JSON in the step's own form
// (hidden field "credential"), where the server checks it like any answer.
"use strict";

(function () {
  const button = document.getElementById("passkey-button");
  if (!button) {
    return;
  }
  const form = button.form;
  const row = document.getElementById("passkey-row");

  if (!window.PublicKeyCredential || !navigator.credentials) {
    // No WebAuthn here (an old browser, or a page not served over HTTPS): the typed answers remain.
    row.remove();
    return;
  }

  function fromBase64url(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0)).buffer;
  }

  function toBase64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let binary = "";
    for (const byte of bytes) {
      binary += String.fromCharCode(byte);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // The standard JSON form (WebAuthn L3 §5.1.10) → what credentials.get() takes, where the browser cannot parse it.
  function requestOptions(json) {
    if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function") {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    return {
      ...json,
      challenge: fromBase64url(json.challenge),
      allowCredentials: (json.allowCredentials || []).map((key) => ({ ...key, id: fromBase64url(key.id) })),
    };
  }

  // The assertion → its JSON form (PublicKeyCredential.toJSON(), WebAuthn L3 §5.1), also where toJSON() is missing.
  function credentialJSON(credential) {
    if (typeof credential.toJSON === "function") {
      return credential.toJSON();
    }
    const response = credential.response;
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: {
        clientDataJSON: toBase64url(response.clientDataJSON),
        authenticatorData: toBase64url(response.authenticatorData),
        signature: toBase64url(response.signature),
        userHandle: response.userHandle ? toBase64url(response.userHandle) : null,
      },
    };
  }

  function showError(text) {
    let note = document.getElementById("passkey-error");
    if (!note) {
      note = document.createElement("p");
      note.id = "passkey-error";
      note.className = "errornote";
      form.before(note);
    }
    note.textContent = text;
  }

  async function fetchOptions() {
    const response = await fetch(button.dataset.optionsUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": form.elements.csrfmiddlewaretoken.value, Accept: "application/json" },
      body: new URLSearchParams({ next: form.elements.next.value }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      if (body.location) {
        // The login is over: its page says why and asks for the password again.
        window.location.assign(body.location);
      }
      throw new Error(body.detail || "The passkey could not be used; try again.");
    }
    return body;
  }

  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const options = await fetchOptions();
      let credential;
      try {
        credential = await navigator.credentials.get({ publicKey: requestOptions(options.publicKey) });
      } catch (error) {
        // NotAllowedError: cancelled, timed out, or no passkey of this site on this device.
        throw new Error("No passkey was used. Try again, or enter a code.");
      }
      form.elements.credential.value = JSON.stringify(credentialJSON(credential));
      form.elements.code.value = "";
      // submit(), not requestSubmit(): the typed code the field asks for is not this answer.
      form.submit();
    } catch (error) {
      showError(error.message);
      button.disabled = false;
    }
  });
})();
