// The claim page: a code lights the words it rests on and the audio seeks there; a marked word lights its codes.
// The code editor: add and remove rows, drag to reorder (diagnosis letters follow the order).
(function () {
  "use strict";
  const text = document.getElementById("evidence-text");
  const audio = document.getElementById("claim-audio");
  const seekData = document.getElementById("seek-data");
  const seek = seekData ? JSON.parse(seekData.textContent) : {};

  function clear() {
    document.querySelectorAll(".is-lit").forEach((el) => el.classList.remove("is-lit"));
  }

  function lightKey(key, doSeek) {
    clear();
    let first = null;
    if (text) {
      text.querySelectorAll("mark.evidence").forEach((mark) => {
        if (mark.dataset.keys.split(" ").includes(key)) {
          mark.classList.add("is-lit");
          first = first || mark;
        }
      });
    }
    document.querySelectorAll('[data-key="' + key + '"]').forEach((el) => el.classList.add("is-lit"));
    if (first) first.scrollIntoView({ block: "center", behavior: "smooth" });
    if (doSeek && audio && seek[key] !== undefined) {
      audio.currentTime = seek[key];
    }
    return first;
  }

  document.addEventListener("click", function (event) {
    const chip = event.target.closest(".code-chip");
    if (chip) { lightKey(chip.dataset.key, true); return; }
    const mark = event.target.closest("mark.evidence");
    if (mark) {
      clear();
      mark.classList.add("is-lit");
      mark.dataset.keys.split(" ").forEach((key) => {
        document.querySelectorAll('[data-key="' + key + '"]').forEach((el) => el.classList.add("is-lit"));
      });
      if (audio && mark.dataset.start) audio.currentTime = parseFloat(mark.dataset.start);
    }
  });

  const LETTERS = "ABCDEFGHIJKL";
  function relabel() {
    document.querySelectorAll("#dx-list > li").forEach((li, i) => {
      const letter = li.querySelector(".letter");
      if (letter) letter.textContent = LETTERS[i] || "?";
    });
  }

  document.addEventListener("click", function (event) {
    const add = event.target.closest(".add-row");
    if (add) {
      const template = document.getElementById(add.dataset.template);
      const target = document.getElementById(add.dataset.target);
      const node = template.content.firstElementChild.cloneNode(true);
      target.appendChild(node);
      if (window.htmx) window.htmx.process(node);
      relabel();
      const input = node.querySelector("input");
      if (input) input.focus();
      return;
    }
    const remove = event.target.closest(".remove-row");
    if (remove) {
      remove.closest(".sortable-row").remove();
      relabel();
    }
  });

  // Drag to reorder, within one list.
  let dragged = null;
  document.addEventListener("dragstart", function (event) {
    const row = event.target.closest && event.target.closest(".sortable-row");
    if (!row) return;
    dragged = row;
    row.classList.add("is-dragging");
    event.dataTransfer.effectAllowed = "move";
  });
  document.addEventListener("dragover", function (event) {
    const row = event.target.closest && event.target.closest(".sortable-row");
    if (!dragged || !row || row === dragged || row.parentNode !== dragged.parentNode) return;
    event.preventDefault();
    const box = row.getBoundingClientRect();
    const after = event.clientY > box.top + box.height / 2;
    row.parentNode.insertBefore(dragged, after ? row.nextSibling : row);
  });
  document.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("is-dragging");
    dragged = null;
    relabel();
  });
  document.body.addEventListener("htmx:afterSwap", relabel);
  relabel();
})();
