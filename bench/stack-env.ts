/**
 * The environment for scripts/start.mjs when a benchmark starts the stack: every
 * listener on a free port and a private state directory, so a benchmark never meets
 * a stack the developer is running.
 */
export function stackEnv(state: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    KONBINI_CENTRE_PORT: '0',
    KONBINI_CITY_PORT: '0',
    KONBINI_KIOSK_SCREEN_PORT: '0',
    KONBINI_CONSOLE_PORT: '0',
    KONBINI_CENTRE_CITY_API_PORT: '0',
    KONBINI_KOSEKI_PORT: '0',
    KONBINI_VERIFY_PORT: '0',
    KONBINI_STATE_DIR: state,
    ...extra,
  };
}
