// The review queue by keyboard: j/k move, Enter opens, a approves, r rejects (asks for the reason).
(function () {
  "use strict";
  const table = document.getElementById("claim-queue");
  if (!table) return;
  const rows = () => Array.from(table.querySelectorAll("tr.queue-row"));
  let current = 0;

  function focusRow(index) {
    const all = rows();
    if (!all.length) return;
    current = Math.max(0, Math.min(index, all.length - 1));
    all.forEach((row, i) => row.classList.toggle("is-current", i === current));
    all[current].focus({ preventScroll: false });
    all[current].scrollIntoView({ block: "nearest" });
  }

  function typing(event) {
    const el = event.target;
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  const dialog = document.getElementById("reject-dialog");
  function reject(row) {
    const form = row.querySelector('form[data-action="reject"]');
    if (!form || !dialog) return;
    const reason = document.getElementById("reject-reason");
    reason.value = "";
    dialog.returnValue = "";
    dialog.showModal();
    dialog.addEventListener("close", function onClose() {
      dialog.removeEventListener("close", onClose);
      if (dialog.returnValue === "send" && reason.value.trim()) {
        form.querySelector('input[name="reason"]').value = reason.value.trim();
        form.requestSubmit();
      }
      focusRow(current);
    });
  }

  table.addEventListener("submit", function (event) {
    const form = event.target;
    if (form.dataset.action === "reject" && !form.querySelector('input[name="reason"]').value) {
      event.preventDefault();
      const row = form.closest("tr.queue-row");
      current = rows().indexOf(row);
      reject(row);
    }
  }, true);

  document.addEventListener("keydown", function (event) {
    if (typing(event) || event.metaKey || event.ctrlKey || event.altKey || (dialog && dialog.open)) return;
    const row = rows()[current];
    switch (event.key) {
      case "j": focusRow(current + 1); break;
      case "k": focusRow(current - 1); break;
      case "Enter": if (row) window.location.href = row.dataset.open; break;
      case "a": {
        const form = row && row.querySelector('form[data-action="approve"]');
        if (form) form.requestSubmit();
        break;
      }
      case "r": if (row) reject(row); break;
      default: return;
    }
    event.preventDefault();
  });

  // A row swapped in place after an action keeps the keyboard position. After the settle, not the swap: while
  // settling, htmx gives the new row the old row's attributes and then puts the server's back, which would
  // drop the is-current class set any earlier.
  document.body.addEventListener("htmx:afterSettle", function () { focusRow(current); });
  table.addEventListener("click", function (event) {
    const row = event.target.closest("tr.queue-row");
    if (row) { current = rows().indexOf(row); rows().forEach((r, i) => r.classList.toggle("is-current", i === current)); }
  });
  focusRow(0);
})();
