// How a role reaches another: with the cluster token, and with the cluster's TLS when it has one (its
// own certificate shown, the peer's checked by name). Every call to another role is made through one
// of these, so none can forget the token or the certificate.
import { baseUrl, type Config, type Endpoint } from '../core/config.ts';
import { LinkUpstream } from '../link/client.ts';
import { callTls, type ClientTls } from '../tls/client.ts';
import type { Logger } from '../core/logger.ts';
import { loadRoleTls, type RoleTls } from '../tls/material.ts';
import { Upstream } from './client.ts';

export class Dialer {
  readonly token: string | undefined;
  /** This role's TLS material; undefined without the cluster's TLS. */
  readonly tls: RoleTls | undefined;

  constructor(config: Config, tls: RoleTls | undefined) {
    this.token = config.token;
    this.tls = tls;
  }

  /** How role `name` (a certificate name of tls/names.ts) calls the others; reads its TLS material. */
  static forRole(config: Config, name: string, logger?: Logger): Dialer {
    return new Dialer(config, loadRoleTls(config, name, logger));
  }

  /** A link (held connection, frames) to the role whose certificate is `peer`, at `endpoint`. */
  link(name: string, endpoint: Endpoint, peer: string): LinkUpstream {
    return new LinkUpstream(name, baseUrl(endpoint), { token: this.token, tls: this.tlsTo(endpoint, peer) });
  }

  /** A pool of HTTP connections to the role whose certificate is `peer`. */
  http(name: string, endpoint: Endpoint, peer: string, connections?: number): Upstream {
    return new Upstream(name, baseUrl(endpoint), { token: this.token, tls: this.tlsTo(endpoint, peer), ...(connections === undefined ? {} : { connections }) });
  }

  /**
   * The cluster's TLS to `peer`; or, on a cluster without it, for a frontend that serves HTTPS with
   * its own public certificate (`frontend.tls`), TLS unchecked: the roles of such a cluster trust
   * each other by the token alone, over plain HTTP everywhere else.
   */
  private tlsTo(endpoint: Endpoint, peer: string): ClientTls | undefined {
    return callTls(this.tls, peer) ?? (endpoint.scheme === 'https' ? { rejectUnauthorized: false } : undefined);
  }
}
