/**
 * The network layer: TLS 1.3 between pods of one network, mutual
 * authentication against the network's own CA, framed msgpack RPC and
 * one-way messages, heartbeats, joining with an invite. It knows nothing of
 * files: upper layers register handlers and send bodies.
 */
export { Peer } from './connection.js';
export { formatAddress, type HostPort, parseAddress } from './dialer.js';
export {
  AbortError,
  AuthenticationError,
  ConnectionClosedError,
  FrameError,
  InvalidInviteError,
  RemoteError,
  TimeoutError,
} from './errors.js';
export { DEFAULT_MAX_FRAME, encodeFrame, type Frame, FrameDecoder } from './frame.js';
export { createInviteSecret, decodeInvite, encodeInvite, type Invite } from './invite.js';
export { type JoinHandler, type JoinOptions, joinNetwork } from './join.js';
export {
  type Authority,
  type CertificateInfo,
  createAuthority,
  createKeyPair,
  fingerprint,
  inspect,
  issuePodCertificate,
  NAME_RE,
  type PodCertificateRequest,
} from './pki.js';
export type { Handler, RequestOptions } from './rpc.js';
export type { PodIdentity, RevocationCheck } from './tls.js';
export { type PeerStatus, Transport, type TransportOptions } from './transport.js';
