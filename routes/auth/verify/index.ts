// Gateway mode: GET/POST/… /auth/verify?<parameters> (nginx, Traefik) and /auth/verify/<parameters>/<path> (Envoy).
export { forwardAuth as default } from '../../../plugins/clerk-auth/index.js'
