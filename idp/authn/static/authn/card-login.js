/* The card app's waiting page: poll the challenge's status every second (POST, with the page's
 * CSRF token). Once the holder approved on the phone, that poll completes the login and answers
 * where to go (the client's redirect), and the page goes there. Otherwise, once the holder
 * answered (denied, failed), the challenge expired, or the login could not complete from the poll
 * (a form_post client, a refusal), submit the page's "continue" form, which completes the login or
 * shows why it did not. Without JavaScript the holder presses that button themselves. A static
 * file: the CSP forbids inline scripts. */
(function () {
  "use strict";
  var form = document.getElementById("card-complete");
  if (!form || !window.fetch) {
    return;
  }
  var statusUrl = form.getAttribute("data-status-url");
  var token = form.querySelector("input[name=csrfmiddlewaretoken]");
  var countdown = document.getElementById("card-countdown");
  var seconds = countdown ? parseInt(countdown.getAttribute("data-seconds"), 10) || 0 : 0;
  var done = false;

  function finish() {
    if (!done) {
      done = true;
      form.submit();
    }
  }

  function poll() {
    if (done) {
      return;
    }
    fetch(statusUrl, {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json", "X-CSRFToken": token ? token.value : "" }
    })
      .then(function (response) {
        if (response.status === 404 || response.status === 403) {
          finish(); // the transaction or the challenge is gone, or refused: the page says why
          return null;
        }
        return response.ok ? response.json() : null;
      })
      .then(function (body) {
        if (body && typeof body.location === "string" && body.location) {
          done = true; // logged in: on to the service
          window.location.assign(body.location);
        } else if (body && body.status && body.status !== "pending") {
          finish();
        }
      })
      .catch(function () {
        /* a network hiccup: try again at the next tick */
      })
      .then(function () {
        if (!done) {
          window.setTimeout(poll, 1000);
        }
      });
  }

  function tick() {
    if (done || !countdown) {
      return;
    }
    seconds = Math.max(0, seconds - 1);
    countdown.textContent = String(seconds);
    window.setTimeout(tick, 1000);
  }

  window.setTimeout(poll, 1000);
  window.setTimeout(tick, 1000);
})();
