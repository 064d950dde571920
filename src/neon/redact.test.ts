import { describe, expect, it } from 'vitest';
import { redactSecrets, registerSecret } from './redact.ts';

describe('redactSecrets', () => {
  it('masks passwords in connection URIs, bearer tokens and password fields', () => {
    expect(redactSecrets('postgresql://app:npg_s3cr3t@ep-x-pooler.host/db?sslmode=require')).toBe(
      'postgresql://app:***@ep-x-pooler.host/db?sslmode=require',
    );
    expect(redactSecrets('Authorization: Bearer napi_abcdef123')).toBe('Authorization: Bearer ***');
    expect(redactSecrets('{"password":"hunter22"}')).toBe('{"password":"***"}');
    expect(redactSecrets('password=hunter22&x=1')).toBe('password=***&x=1');
  });

  it('masks registered secrets wherever they appear', () => {
    registerSecret('napi_registered_key_42');
    expect(redactSecrets('key napi_registered_key_42 leaked')).toBe('key *** leaked');
  });

  it('leaves ordinary text alone', () => {
    expect(redactSecrets('branch not found')).toBe('branch not found');
    expect(redactSecrets('https://console.neon.tech/api/v2/projects')).toBe('https://console.neon.tech/api/v2/projects');
  });
});
