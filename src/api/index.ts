// The operator's custom resources: schemas, inferred types, parsers and the CRD generator.
export * from './group.ts';
export * from './common.ts';
export * from './validation.ts';
export * from './resource.ts';
export * from './neon-project.ts';
export * from './neon-branch.ts';
export * from './neon-endpoint.ts';
export * from './neon-role.ts';
export * from './neon-database.ts';
export * from './kinds.ts';
export * from './defaults.ts';
