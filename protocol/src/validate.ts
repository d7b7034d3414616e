import { Ajv, type ValidateFunction } from 'ajv';
import { KonbiniError } from './errors.js';

/**
 * One ajv instance for every schema in the protocol. Strict mode catches typos in
 * schemas at start-up; coercion is off so a kiosk cannot send "1" for 1.
 */
export const ajv = new Ajv({ strict: true, allErrors: false, coerceTypes: false, useDefaults: false });

export type Validator<T> = (data: unknown) => T;

/** Compile a schema into a function that returns typed data or throws MESSAGE_INVALID. */
export function validator<T>(schema: object, name: string): Validator<T> {
  const check: ValidateFunction = ajv.compile(schema);
  return (data: unknown): T => {
    if (!check(data)) {
      const first = check.errors?.[0];
      throw new KonbiniError('MESSAGE_INVALID', {
        schema: name,
        path: first?.instancePath || '/',
        keyword: first?.keyword,
      });
    }
    return data as T;
  };
}
