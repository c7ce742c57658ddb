// wgsl_reflect's ESM build has no types of its own path; reuse the package's.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
