// The session token lives under one localStorage key. localStorage (not sessionStorage) so
// that a second tab of the same user is signed in too; the CSP (script-src 'self') keeps
// third-party scripts from reading it. It is never put in a URL: /ws gets a one-time ticket.
const KEY = 'shopgpt.session';

export function loadSession() {
  try {
    const s = JSON.parse(localStorage.getItem(KEY) ?? 'null');
    if (!s?.token || !s.userId) return null;
    if (s.expiresAt && Date.parse(s.expiresAt) <= Date.now()) {
      localStorage.removeItem(KEY);
      return null;
    }
    return s;
  } catch {
    return null;
  }
}

export function saveSession({ userId, token, expiresAt }, guest) {
  const s = { userId, token, expiresAt, guest: Boolean(guest) };
  localStorage.setItem(KEY, JSON.stringify(s));
  return s;
}

export function clearSession() {
  localStorage.removeItem(KEY);
}

/** Where this user's offline queue is persisted (per user: a shared computer must not mix them). */
export const outboxKey = (userId) => `shopgpt.outbox.${userId}`;
