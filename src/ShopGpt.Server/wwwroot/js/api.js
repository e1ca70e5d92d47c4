// REST client for API.md: bearer token, JSON, RFC 7807 problems turned into ApiError.

export class ApiError extends Error {
  constructor(status, code, message, retryAfterMs) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * @param {{getToken: () => string|null, onUnauthorized?: () => void, fetch?: typeof fetch}} o
 */
export function createApi({ getToken, onUnauthorized, fetch: f = globalThis.fetch.bind(globalThis) }) {
  async function call(method, path, body) {
    const headers = { Accept: 'application/json' };
    const token = getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await f(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
    } catch (e) {
      // fetch rejects only when the server could not be reached at all.
      throw new ApiError(0, 'network', 'The server cannot be reached.');
    }
    if (res.status === 204) return null;
    const isJson = (res.headers.get('content-type') ?? '').includes('json');
    const data = isJson ? await res.json().catch(() => null) : null;
    if (!res.ok) {
      const retryAfter = Number(res.headers.get('retry-after'));
      const err = new ApiError(
        res.status,
        data?.code ?? `http_${res.status}`,
        data?.detail ?? data?.title ?? `Request failed (${res.status}).`,
        Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined,
      );
      // Auth calls answer 401 for a wrong password; only a rejected token signs us out.
      if (res.status === 401 && token && !path.startsWith('/api/auth/')) onUnauthorized?.(err);
      throw err;
    }
    return data;
  }
  return {
    get: (p) => call('GET', p),
    post: (p, b) => call('POST', p, b),
    put: (p, b) => call('PUT', p, b),
    patch: (p, b) => call('PATCH', p, b),
    /** A download (export): the body as a Blob plus the server's file name. */
    blob: async (p) => {
      const headers = {};
      const token = getToken();
      if (token) headers.Authorization = `Bearer ${token}`;
      const res = await f(p, { headers, cache: 'no-store' }).catch(() => {
        throw new ApiError(0, 'network', 'The server cannot be reached.');
      });
      if (!res.ok) {
        const data = await res.json().catch(() => null);
        throw new ApiError(res.status, data?.code ?? `http_${res.status}`, data?.detail ?? `Request failed (${res.status}).`);
      }
      const name = /filename="?([^";]+)"?/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? 'export';
      return { blob: await res.blob(), name };
    },
    del: (p) => call('DELETE', p),
  };
}

export const enc = encodeURIComponent;
