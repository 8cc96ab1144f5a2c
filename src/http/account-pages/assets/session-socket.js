import { session } from './api.js';

// `subscription { sessionRevoked }` over the graphql-transport-ws protocol, spoken by hand (it is
// five message types): connection_init with the credentials, subscribe once acknowledged, answer
// pings. Close code 4403 means this session's credentials are dead (revoked, expired); any other
// close reconnects with a growing delay; `onSubscribed` (each time) lets the page catch up on what
// ended before the subscription was in place.

const SUBSCRIPTION = 'subscription { sessionRevoked { sessionId reason revokedAt } }';

export function watchRevocations({ onRevoked, onSessionEnded, onSubscribed }) {
  let attempt = 0;
  const connect = () => {
    const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`, 'graphql-transport-ws');
    const send = (message) => socket.send(JSON.stringify(message));
    socket.addEventListener('open', () => {
      // Cookie mode: the browser sends the cookie with the upgrade, and the payload stays empty.
      const token = session.token();
      send({ type: 'connection_init', payload: token ? { authorization: `Bearer ${token}` } : {} });
    });
    socket.addEventListener('message', (event) => {
      const message = JSON.parse(event.data);
      if (message.type === 'connection_ack') {
        attempt = 0;
        send({ id: 'revocations', type: 'subscribe', payload: { query: SUBSCRIPTION } });
        onSubscribed();
      } else if (message.type === 'ping') {
        send({ type: 'pong' });
      } else if (message.type === 'next' && message.payload.data) {
        onRevoked(message.payload.data.sessionRevoked);
      } else if (message.type === 'error' && message.payload.some((e) => e.extensions?.code === 'UNAUTHENTICATED')) {
        onSessionEnded();
      }
    });
    socket.addEventListener('close', (event) => {
      if (event.code === 4403) return onSessionEnded();
      attempt += 1;
      setTimeout(connect, Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5)));
    });
  };
  connect();
}
