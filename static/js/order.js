// Ordering, improved: "where this phone is now" fills the position from the browser's
// geolocation. Without JavaScript that choice is hidden and the other two still work.
(function () {
  "use strict";
  const script = document.currentScript;
  const here = document.querySelector('input[name="where-place"][value="here"]');
  const lat = document.querySelector('input[name="where-lat"]');
  const lng = document.querySelector('input[name="where-lng"]');
  const status = document.querySelector("[data-locate-status]");
  if (!here || !lat || !lng || !("geolocation" in navigator)) return;
  function say(text) { if (status) status.textContent = text; }
  function locate() {
    say(script.dataset.locating);
    navigator.geolocation.getCurrentPosition(
      function (position) {
        lat.value = position.coords.latitude.toFixed(6);
        lng.value = position.coords.longitude.toFixed(6);
        say(script.dataset.located);
      },
      function () { say(script.dataset.failed); },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
    );
  }
  here.addEventListener("change", function () { if (here.checked) locate(); });
  if (here.checked && !lat.value) locate();
})();
