// Reads the order's status aloud with the browser's own speech synthesis, where there is one.
(function () {
  "use strict";
  const button = document.querySelector("[data-speak]");
  if (!button || !("speechSynthesis" in window)) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    const source = document.querySelector("[data-speak-source]");
    if (!source) return;
    window.speechSynthesis.cancel();
    const title = document.querySelector("h1");
    const words = new SpeechSynthesisUtterance((title ? title.innerText + "。" : "") + source.innerText);
    words.lang = document.documentElement.lang === "en" ? "en-US" : "zh-CN";
    words.rate = 0.9;
    window.speechSynthesis.speak(words);
  });
})();
