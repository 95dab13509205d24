import { type Handle, isHttpError, type RequestEvent } from '@sveltejs/kit';

/**
 * SvelteKit calls `handle` with an event and a `resolve` that renders the route; an error thrown by
 * `handle` becomes a response with its status. The tests do the same with real `Request` objects, from
 * `clientAddress` (what `event.getClientAddress()` gives).
 */
export async function serveSvelteKit(
  handle: Handle,
  request: Request,
  route: (event: RequestEvent) => Promise<Response> | Response,
  clientAddress = '127.0.0.1',
): Promise<Response> {
  const event = {
    request,
    url: new URL(request.url),
    locals: {},
    getClientAddress: () => clientAddress,
  } as unknown as RequestEvent;
  try {
    return await handle({ event, resolve: async (resolved) => route(resolved) });
  } catch (error) {
    if (isHttpError(error)) return new Response(error.body.message, { status: error.status });
    return new Response('Internal Error', { status: 500 });
  }
}
