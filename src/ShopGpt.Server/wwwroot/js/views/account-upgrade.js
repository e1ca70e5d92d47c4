// "Create account" for a guest: POST /api/auth/register with the guest's token keeps every chat
// and saved product under the new account (docs/api-extensions.md); the guest token then ends.
import { $ } from '../dom.js';
import { openDialog, wireDialog } from './dialogs.js';

export function mountAccountUpgrade({ api, onUpgraded }) {
  const btn = $('#upgrade-btn');
  const dialog = $('#account-dialog');
  const form = $('#account-form');
  const error = $('#account-error');
  wireDialog(dialog);
  btn.hidden = false;
  btn.addEventListener('click', () => {
    openDialog(dialog, btn);
    $('#account-name').focus();
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    try {
      const res = await api.post('/api/auth/register', {
        email: $('#account-email').value.trim(),
        password: $('#account-password').value,
        displayName: $('#account-name').value.trim() || undefined,
      });
      onUpgraded(res);
    } catch (err) {
      error.textContent = err.code === 'email_taken' ? 'An account with this email already exists.' : err.message;
    }
  });
}
