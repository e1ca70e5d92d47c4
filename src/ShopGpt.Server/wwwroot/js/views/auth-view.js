// Sign-in screen: continue as guest, sign in, or create an account.
import { $ } from '../dom.js';

export function showAuth({ api, onSignedIn }) {
  const root = $('#auth');
  const form = $('#auth-form');
  const err = $('#auth-error');
  const submit = $('#auth-submit');
  const nameField = $('#name-field');
  const password = $('#auth-password');
  const modes = { login: $('#mode-login'), register: $('#mode-register') };
  let mode = 'login';

  root.hidden = false;
  $('#app').hidden = true;
  document.title = 'Sign in · ShopGPT';

  function setMode(m) {
    mode = m;
    for (const [k, b] of Object.entries(modes)) b.setAttribute('aria-pressed', String(k === m));
    nameField.hidden = m !== 'register';
    submit.textContent = m === 'register' ? 'Create account' : 'Sign in';
    password.autocomplete = m === 'register' ? 'new-password' : 'current-password';
    err.textContent = '';
  }
  modes.login.addEventListener('click', () => setMode('login'));
  modes.register.addEventListener('click', () => setMode('register'));

  async function run(button, fn, guest) {
    err.textContent = '';
    button.disabled = true;
    try {
      const res = await fn();
      root.hidden = true;
      onSignedIn(res, guest);
    } catch (e) {
      err.textContent = messageFor(e);
    } finally {
      button.disabled = false;
    }
  }

  $('#guest-btn').addEventListener('click', (e) => run(e.currentTarget, () => api.post('/api/auth/guest'), true));

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    if (!form.checkValidity()) {
      err.textContent = !data.email ? 'Enter your email address.' : 'Enter a valid email and a password of at least 8 characters.';
      return;
    }
    if (mode === 'register') {
      run(submit, () => api.post('/api/auth/register', { email: data.email, password: data.password, displayName: data.displayName || undefined }), false);
    } else {
      run(submit, () => api.post('/api/auth/login', { email: data.email, password: data.password }), false);
    }
  });

  $('#guest-btn').focus();
}

function messageFor(e) {
  switch (e.code) {
    case 'bad_credentials':
      return 'Email or password is wrong.';
    case 'email_taken':
      return 'An account with this email already exists. Sign in instead.';
    case 'network':
      return 'The server cannot be reached. Check your connection and try again.';
    default:
      return e.message || 'Something went wrong. Try again.';
  }
}
