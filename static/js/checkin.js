// Check-in on site: by this phone's position, or by the order's QR code scanned with the camera
// (decoded on the phone by jsQR, shipped with the project). The typed code works without either.
(function () {
  "use strict";
  const gps = document.querySelector("[data-gps-form]");
  if (gps) {
    const status = gps.querySelector("[data-gps-status]");
    gps.addEventListener("submit", function (event) {
      const lat = gps.querySelector('input[name="lat"]');
      const lng = gps.querySelector('input[name="lng"]');
      if (lat.value && lng.value) return;
      event.preventDefault();
      if (!("geolocation" in navigator)) return;
      status.textContent = gps.dataset.locating || "…";
      navigator.geolocation.getCurrentPosition(
        function (p) {
          lat.value = p.coords.latitude.toFixed(6);
          lng.value = p.coords.longitude.toFixed(6);
          gps.requestSubmit();
        },
        function (error) { status.textContent = error.message; },
        { enableHighAccuracy: true, timeout: 20000, maximumAge: 0 }
      );
    });
  }

  const scan = document.querySelector("[data-scan]");
  const video = document.querySelector("[data-scanner]");
  if (!scan || !video || !navigator.mediaDevices || !window.jsQR) {
    if (scan) scan.hidden = true;
    return;
  }
  const form = scan.closest("form");
  const status = form.querySelector("[data-scan-status]");
  const canvas = document.createElement("canvas");
  let stream = null;
  function stop() {
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
    stream = null;
    video.hidden = true;
  }
  function look() {
    if (!stream) return;
    if (video.readyState === video.HAVE_ENOUGH_DATA) {
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      const context = canvas.getContext("2d", { willReadFrequently: true });
      context.drawImage(video, 0, 0);
      const image = context.getImageData(0, 0, canvas.width, canvas.height);
      const found = window.jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
      if (found && found.data) {
        stop();
        form.querySelector('input[name="qr"]').value = found.data;
        form.requestSubmit();
        return;
      }
    }
    requestAnimationFrame(look);
  }
  scan.addEventListener("click", function () {
    if (stream) { stop(); return; }
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
      .then(function (s) {
        stream = s;
        video.srcObject = s;
        video.hidden = false;
        video.play();
        requestAnimationFrame(look);
      })
      .catch(function (error) { status.textContent = error.message; });
  });
})();
