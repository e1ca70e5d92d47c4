// Native <dialog> drawers: showModal() makes the page behind inert (focus stays inside, screen
// readers see only the dialog), Escape closes, and focus returns to what opened it.
export function openDialog(dialog, opener = document.activeElement) {
  if (!dialog.open) dialog.showModal();
  dialog._opener = opener;
  return dialog;
}

export function wireDialog(dialog) {
  dialog.addEventListener('close', () => {
    const o = dialog._opener;
    dialog._opener = null;
    if (o && o.isConnected) o.focus();
  });
  for (const b of dialog.querySelectorAll('[data-close]')) b.addEventListener('click', () => dialog.close());
  // A click on the backdrop (outside the drawer's box) closes it too.
  dialog.addEventListener('click', (e) => {
    if (e.target !== dialog) return;
    const r = dialog.getBoundingClientRect();
    if (e.clientX < r.left || e.clientX > r.right || e.clientY < r.top || e.clientY > r.bottom) dialog.close();
  });
}
