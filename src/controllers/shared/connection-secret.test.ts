import { describe, expect, it } from 'vitest';
import { CONNECTION_SECRET_KEYS, connectionSecretData, poolerHostOf } from './connection-secret.ts';

describe('connection Secret', () => {
  const info = { host: 'ep-cool-1.c-2.us-east-2.aws.neon.tech', poolerHost: 'ep-cool-1-pooler.c-2.us-east-2.aws.neon.tech', dbname: 'app', username: 'app', password: 'p@ss:w/rd' };

  it('has exactly the keys apps expect, every URI with sslmode=require and encoded credentials', () => {
    const data = connectionSecretData(info);
    expect(Object.keys(data).sort()).toEqual([...CONNECTION_SECRET_KEYS].sort());
    expect(data['uri']).toBe('postgresql://app:p%40ss%3Aw%2Frd@ep-cool-1.c-2.us-east-2.aws.neon.tech:5432/app?sslmode=require');
    expect(data['pooled-uri']).toBe('postgresql://app:p%40ss%3Aw%2Frd@ep-cool-1-pooler.c-2.us-east-2.aws.neon.tech:5432/app?sslmode=require');
    expect(data['DATABASE_URL']).toBe(data['uri']);
    expect(data['jdbc-uri']).toBe('jdbc:postgresql://ep-cool-1.c-2.us-east-2.aws.neon.tech:5432/app?user=app&password=p%40ss%3Aw%2Frd&sslmode=require');
    expect(data['pgpass']).toBe('ep-cool-1.c-2.us-east-2.aws.neon.tech:5432:app:app:p@ss\\:w/rd\n');
    const parsed = new URL(data['uri'] ?? '');
    expect(decodeURIComponent(parsed.password)).toBe(info.password);
    expect(data).toMatchObject({ host: info.host, 'pooled-host': info.poolerHost, port: '5432', dbname: 'app', username: 'app', password: info.password });
  });

  it('derives the pooler host from the endpoint host', () => {
    expect(poolerHostOf('ep-a-1.c-2.us-east-2.aws.neon.tech')).toBe('ep-a-1-pooler.c-2.us-east-2.aws.neon.tech');
    expect(poolerHostOf('ep-a-1-pooler.c-2.us-east-2.aws.neon.tech')).toBe('ep-a-1-pooler.c-2.us-east-2.aws.neon.tech');
  });
});
