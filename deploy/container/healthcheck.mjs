// The image's HEALTHCHECK: GET /healthz on the server's own port, https when SWITCHBOARD_TLS_CERT is set (the
// certificate is not verified: the request never leaves the container). Exit 0 on 200, else 1, within 2 s.
// The port comes from SWITCHBOARD_PORT (or PORT), as the server reads it; a port set in a config file is not seen.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

const port = Number(process.env.SWITCHBOARD_PORT || process.env.PORT || 8080);
const request = process.env.SWITCHBOARD_TLS_CERT ? httpsRequest : httpRequest;
const req = request({ host: '127.0.0.1', port, path: '/healthz', timeout: 2000, rejectUnauthorized: false }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', () => process.exit(1));
req.end();
