/* The card app's waiting page: poll the challenge's status every second and, once the holder
 * answered on the phone (approved, denied, failed) or it expired, submit the page's "continue"
 * form, which completes the login or shows why it did not. Without JavaScript the holder presses
 * that button themselves. A static file: the CSP forbids inline scripts. */
(function () {
  "use strict";
  var form = document.getElementById("card-complete");
  if (!form || !window.fetch) {
    return;
  }
  var statusUrl = form.getAttribute("data-status-url");
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
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json" }
    })
      .then(function (response) {
        if (response.status === 404) {
          finish(); // the login transaction or the challenge is gone: the page says why
          return null;
        }
        return response.ok ? response.json() : null;
      })
      .then(function (body) {
        if (body && body.status && body.status !== "pending") {
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
