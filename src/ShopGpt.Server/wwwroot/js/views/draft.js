// The composer keeps an unsent draft per conversation (and one for a new chat) across reloads,
// in localStorage under the user's id (a shared computer must not mix users' drafts).
export function mountDraft({ input, userId, storage = globalThis.localStorage }) {
  let key = null;
  const keyOf = (cid) => `shopgpt.draft.${userId}.${cid ?? 'new'}`;
  const write = () => {
    if (!key) return;
    try {
      if (input.value.trim()) storage.setItem(key, input.value);
      else storage.removeItem(key);
    } catch {
      // storage full or disabled: a draft is a comfort, not data
    }
  };
  input.addEventListener('input', write);
  return {
    enter(cid) {
      key = keyOf(cid);
      input.value = storage.getItem(key) ?? '';
    },
    leave() {
      write();
      key = null;
    },
    /** The first message of a new chat created the conversation: the draft box now belongs to it. */
    moveTo(cid) {
      storage.removeItem(keyOf(null));
      key = keyOf(cid);
    },
    clear() {
      if (key) storage.removeItem(key);
    },
  };
}
