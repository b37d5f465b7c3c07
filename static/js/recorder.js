/* Record a dictation in the browser: MediaRecorder with a level meter, pause/resume and a preview before it
   is sent. The recording goes into the upload form's file input, so the server checks it like any upload. */
(function () {
  "use strict";
  var panel = document.getElementById("recorder");
  if (!panel) return;
  var form = document.getElementById("upload-form");
  var input = form.querySelector("input[name=audio]");
  var source = form.querySelector("input[name=source]");
  var buttons = {
    start: panel.querySelector("[data-action=start]"), pause: panel.querySelector("[data-action=pause]"),
    stop: panel.querySelector("[data-action=stop]"), use: panel.querySelector("[data-action=use]"),
    discard: panel.querySelector("[data-action=discard]")
  };
  var meter = panel.querySelector("meter");
  var clock = panel.querySelector("[data-role=clock]");
  var preview = panel.querySelector("audio");
  var status = panel.querySelector("[data-role=status]");
  var recorder = null, chunks = [], stream = null, context = null, timer = null, elapsed = 0, blob = null;

  if (!window.MediaRecorder || !navigator.mediaDevices) {
    status.textContent = "This browser cannot record audio: upload a file instead.";
    buttons.start.disabled = true;
    return;
  }

  function show(name, visible) { buttons[name].hidden = !visible; }
  function tick() {
    elapsed += 1;
    clock.textContent = Math.floor(elapsed / 60) + ":" + String(elapsed % 60).padStart(2, "0");
  }
  function mimeType() {
    var types = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/webm", "audio/mp4"];
    for (var i = 0; i < types.length; i++) if (MediaRecorder.isTypeSupported(types[i])) return types[i];
    return "";
  }

  buttons.start.addEventListener("click", function () {
    navigator.mediaDevices.getUserMedia({audio: true}).then(function (media) {
      stream = media;
      context = new (window.AudioContext || window.webkitAudioContext)();
      var analyser = context.createAnalyser();
      analyser.fftSize = 512;
      context.createMediaStreamSource(stream).connect(analyser);
      var samples = new Uint8Array(analyser.fftSize);
      (function level() {
        if (!stream) return;
        analyser.getByteTimeDomainData(samples);
        var peak = 0;
        for (var i = 0; i < samples.length; i++) peak = Math.max(peak, Math.abs(samples[i] - 128) / 128);
        meter.value = peak;
        requestAnimationFrame(level);
      })();
      chunks = [];
      var type = mimeType();
      recorder = new MediaRecorder(stream, type ? {mimeType: type} : undefined);
      recorder.ondataavailable = function (event) { if (event.data.size) chunks.push(event.data); };
      recorder.onstop = function () {
        blob = new Blob(chunks, {type: recorder.mimeType || "audio/webm"});
        preview.src = URL.createObjectURL(blob);
        preview.hidden = false;
        stream.getTracks().forEach(function (track) { track.stop(); });
        stream = null;
        context.close();
        status.textContent = "Listen to the recording, then use it or record again.";
        show("use", true); show("discard", true); show("pause", false); show("stop", false); show("start", false);
      };
      recorder.start(1000);
      elapsed = 0; clock.textContent = "0:00"; timer = setInterval(tick, 1000);
      status.textContent = "Recording…";
      show("start", false); show("pause", true); show("stop", true);
    }).catch(function () {
      status.textContent = "The microphone could not be opened: allow it in the browser, or upload a file.";
    });
  });

  buttons.pause.addEventListener("click", function () {
    if (recorder.state === "recording") {
      recorder.pause(); clearInterval(timer);
      buttons.pause.textContent = "Resume"; status.textContent = "Paused.";
    } else {
      recorder.resume(); timer = setInterval(tick, 1000);
      buttons.pause.textContent = "Pause"; status.textContent = "Recording…";
    }
  });

  buttons.stop.addEventListener("click", function () { clearInterval(timer); recorder.stop(); });

  buttons.discard.addEventListener("click", function () {
    blob = null; preview.hidden = true; preview.removeAttribute("src");
    show("use", false); show("discard", false); show("start", true);
    status.textContent = "";
  });

  buttons.use.addEventListener("click", function () {
    var extension = (blob.type.indexOf("ogg") >= 0) ? "ogg" : (blob.type.indexOf("mp4") >= 0 ? "m4a" : "webm");
    var file = new File([blob], "browser-recording." + extension, {type: blob.type});
    var transfer = new DataTransfer();
    transfer.items.add(file);
    input.files = transfer.files;
    source.value = "browser";
    form.requestSubmit();
  });
})();
