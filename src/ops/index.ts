// Public surface of src/ops: the operations HTTP endpoint (health, metrics), its registration in
// the service, and the token-guarded queue dashboard.
export { startOpsServer, type HealthCheck, type OpsServer, type OpsServerOptions } from './server.js';
export { registerOps, type OpsOptions } from './register.js';
export { createDashboard, DASHBOARD_PATH, type RequestHandler } from './dashboard.js';
export { hasToken, requireToken } from './token.js';
