// On duty: a tap on the duty button unlocks sound (browsers allow it only after one) and asks to
// show notifications; then new work rings. Shared by the team's phone and the dispatcher's console.
(function () {
  "use strict";
  const key = "civic.duty";
  let audio = null;
  function on() { return localStorage.getItem(key) === "1"; }
  function unlock() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!audio && Context) audio = new Context();
    if (audio && audio.state === "suspended") audio.resume();
  }
  function ring(pitch) {
    if (!audio || !on()) return;
    [0, 0.35, 0.7].forEach(function (at) {
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = pitch || 880;
      gain.gain.setValueAtTime(0.25, audio.currentTime + at);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + at + 0.3);
      tone.connect(gain).connect(audio.destination);
      tone.start(audio.currentTime + at);
      tone.stop(audio.currentTime + at + 0.3);
    });
  }
  function bind(button) {
    if (!button) return;
    function show() {
      button.setAttribute("aria-pressed", on() ? "true" : "false");
      button.textContent = on() ? button.dataset.on : button.dataset.off;
    }
    button.addEventListener("click", function () {
      localStorage.setItem(key, on() ? "0" : "1");
      if (on()) {
        unlock();
        ring();
        if ("Notification" in window && Notification.permission === "default") Notification.requestPermission();
      }
      show();
    });
    show();
    document.addEventListener("pointerdown", function () { if (on()) unlock(); }, { once: true });
  }
  window.civicDuty = { on: on, ring: ring, bind: bind };
})();
