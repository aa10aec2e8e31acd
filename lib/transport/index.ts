/** The transport layer: one HTTP(S) server per daemon, the HTTP(S) client, streaming, TLS. No cluster logic. */
export { HttpServer, DEFAULT_MAX_BODY_BYTES } from './http_server.ts';
export type {
  Handler,
  HandlerResult,
  HttpResponse,
  HttpServerOptions,
  HttpServerStats,
  Request,
  ResponseHeaders,
  ResponseStream,
  RouteSpec,
} from './http_types.ts';
export { HttpClient, DEFAULT_TIMEOUT_MS, DEFAULT_MAX_RESPONSE_BYTES } from './http_client.ts';
export type { ClientRequest, ClientResponse, ClientStream, HttpClientOptions, RawClientResponse, RequestBody, StreamRequest } from './http_client.ts';
export { AuthenticationError, HttpError, TransportError, errorCode } from './errors.ts';
export { TlsConfig, isTlsVariable, loadTlsConfig } from './tls_config.ts';
export {
  CredentialStore,
  HttpAuthenticator,
  basicAuthorization,
  loadCredential,
  loadCredentials,
  parseBasic,
  parseCredential,
  parseCredentials,
  readFlagText,
  readableByOthers,
} from './auth.ts';
export type { AuthRealm, Credential, CredentialFile, CredentialsFile, FlagText } from './auth.ts';
export type { TlsFileSystem, TlsProtocol } from './tls_config.ts';
export { FixedMasterDetector } from './leader.ts';
export { freePort } from './free_port.ts';
export type { Contender, LeaderAddress, MasterDetector } from './leader.ts';
export {
  CANDIDACY_PREFIX,
  ZK_DEFAULT_PORT,
  ZkContender,
  ZkError,
  ZkMasterDetector,
  ZkSession,
  createMasterDetector,
  isZkUrl,
  masterInfoHostPort,
  parseMasterLocation,
  parseZkUrl,
} from './zookeeper/index.ts';
export type {
  MasterDetectorOptions,
  MasterLocation,
  ZkContenderOptions,
  ZkCreateMode,
  ZkCredentials,
  ZkData,
  ZkMasterDetectorOptions,
  ZkOp,
  ZkOpResult,
  ZkSessionOptions,
  ZkState,
  ZkUrl,
  ZkWatchEvent,
  ZkWatcher,
} from './zookeeper/index.ts';
