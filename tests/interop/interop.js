// interop.js — gridstock seen by grpc-js, a client that has none of our .proto files: it
// checks health, lists services through server reflection (v1 and v1alpha), builds the
// gridstock API from the descriptors reflection returns, calls a directory RPC, and reads
// the rich error details of a refused call with googleapis' own google.rpc protos
// (google-proto-files), none of ours.
// Env: GS_ADDR (host:port), GS_TOKEN (bearer token of the demo admin), GS_PROTO_DIR (the
// repository's proto/, for the two standard protos only), GS_EXPECTED_SERVICES (comma list).
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const addr = process.env.GS_ADDR;
const token = process.env.GS_TOKEN;
const protoDir = process.env.GS_PROTO_DIR || path.join(__dirname, '..', '..', 'proto');
const expected = (process.env.GS_EXPECTED_SERVICES || '').split(',').filter(Boolean);
const DEADLINE_MS = 10000;

if (!addr || !token) {
  throw new Error('GS_ADDR and GS_TOKEN must be set');
}

const loadOpts = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

function loadStandard(file) {
  const def = protoLoader.loadSync(file, { ...loadOpts, includeDirs: [protoDir] });
  return grpc.loadPackageDefinition(def);
}

function deadline() {
  return new Date(Date.now() + DEADLINE_MS);
}

const creds = grpc.credentials.createInsecure();

// One request on a reflection stream, one response back.
function reflect(client, request) {
  return new Promise((resolve, reject) => {
    const call = client.ServerReflectionInfo({ deadline: deadline() });
    let answered = false;
    call.on('data', (resp) => {
      answered = true;
      resolve(resp);
      call.end();
    });
    call.on('error', (err) => {
      if (!answered) reject(err);
    });
    call.on('end', () => {
      if (!answered) reject(new Error('reflection stream ended without an answer'));
    });
    call.write(request);
  });
}

// FileDescriptorSet { repeated FileDescriptorProto file = 1; } from the raw file bytes.
function varint(n) {
  const out = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

function descriptorSet(files) {
  const parts = [];
  for (const f of files) {
    parts.push(Buffer.from([0x0a]), varint(f.length), Buffer.from(f));
  }
  return Buffer.concat(parts);
}

function reflectionClient(version) {
  const pkg = loadStandard(`grpc/reflection/${version}/reflection.proto`);
  return new pkg.grpc.reflection[version].ServerReflection(addr, creds);
}

test('health check reports SERVING', async () => {
  const pkg = loadStandard('grpc/health/v1/health.proto');
  const client = new pkg.grpc.health.v1.Health(addr, creds);
  const resp = await new Promise((resolve, reject) =>
    client.Check({ service: '' }, { deadline: deadline() }, (err, r) => (err ? reject(err) : resolve(r))),
  );
  assert.strictEqual(resp.status, 'SERVING');
  client.close();
});

for (const version of ['v1', 'v1alpha']) {
  test(`reflection ${version} lists every gridstock.v1 service`, async () => {
    const client = reflectionClient(version);
    const resp = await reflect(client, { list_services: '' });
    assert.strictEqual(resp.message_response, 'list_services_response');
    const names = resp.list_services_response.service.map((s) => s.name);
    for (const svc of expected) {
      assert.ok(names.includes(svc), `${svc} missing from ${names.join(', ')}`);
    }
    assert.ok(names.includes('grpc.health.v1.Health'), names.join(', '));
    client.close();
  });
}

test('reflection answers an unknown symbol with NOT_FOUND in an error_response', async () => {
  const client = reflectionClient('v1');
  const resp = await reflect(client, { file_containing_symbol: 'gridstock.v1.NoSuchThing' });
  assert.strictEqual(resp.message_response, 'error_response');
  assert.strictEqual(resp.error_response.error_code, grpc.status.NOT_FOUND);
  client.close();
});

test('a directory RPC through descriptors fetched by reflection', async () => {
  const refl = reflectionClient('v1');
  const resp = await reflect(refl, { file_containing_symbol: 'gridstock.v1.SiteService' });
  refl.close();
  assert.strictEqual(resp.message_response, 'file_descriptor_response', JSON.stringify(resp.error_response));
  const files = resp.file_descriptor_response.file_descriptor_proto;
  assert.ok(files.length >= 1);
  const def = protoLoader.loadFileDescriptorSetFromBuffer(descriptorSet(files), loadOpts);
  const api = grpc.loadPackageDefinition(def);
  const Sites = api.gridstock.v1.SiteService;
  assert.ok(Sites, 'SiteService not in the reflected descriptors');
  const client = new Sites(addr, creds);
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);

  const list = await new Promise((resolve, reject) =>
    client.ListSites({ kind: 'reserve_point', page_size: 5 }, md, { deadline: deadline() }, (err, r) =>
      err ? reject(err) : resolve(r),
    ),
  );
  assert.ok(list.sites.length > 0 && list.sites.length <= 5, `got ${list.sites.length} sites`);
  for (const s of list.sites) {
    assert.strictEqual(s.kind, 'reserve_point');
    assert.match(s.code, /^[A-Z0-9._-]+$/);
  }

  // and without a token the same call is refused with UNAUTHENTICATED
  const err = await new Promise((resolve) =>
    client.ListSites({}, new grpc.Metadata(), { deadline: deadline() }, (e) => resolve(e)),
  );
  assert.ok(err, 'call without a token succeeded');
  assert.strictEqual(err.code, grpc.status.UNAUTHENTICATED);
  client.close();
});

test('an unknown method is UNIMPLEMENTED', async () => {
  const client = new grpc.Client(addr, creds);
  const err = await new Promise((resolve) =>
    client.makeUnaryRequest(
      '/gridstock.v1.SiteService/NoSuchMethod',
      (x) => x,
      (x) => x,
      Buffer.alloc(0),
      new grpc.Metadata(),
      { deadline: deadline() },
      (e) => resolve(e),
    ),
  );
  assert.ok(err);
  assert.strictEqual(err.code, grpc.status.UNIMPLEMENTED);
  client.close();
});

// google.rpc.Status and its detail types, from googleapis' files as published on npm.
function googleRpc() {
  const dir = path.dirname(require.resolve('google-proto-files/package.json'));
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) =>
    target.startsWith('google/protobuf/') ? target : path.join(dir, target);
  root.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto'], { keepCase: true });
  return root;
}

test('a refused call carries google.rpc.Status details: ErrorInfo and BadRequest', async () => {
  const refl = reflectionClient('v1');
  const resp = await reflect(refl, { file_containing_symbol: 'gridstock.v1.SiteService' });
  refl.close();
  const files = resp.file_descriptor_response.file_descriptor_proto;
  const api = grpc.loadPackageDefinition(protoLoader.loadFileDescriptorSetFromBuffer(descriptorSet(files), loadOpts));
  const client = new api.gridstock.v1.SiteService(addr, creds);
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  const err = await new Promise((resolve) =>
    client.ListSites({ page_size: 5000 }, md, { deadline: deadline() }, (e) => resolve(e)),
  );
  client.close();
  assert.ok(err, 'page_size 5000 was accepted');
  assert.strictEqual(err.code, grpc.status.INVALID_ARGUMENT);
  const bin = err.metadata.get('grpc-status-details-bin');
  assert.strictEqual(bin.length, 1, 'no grpc-status-details-bin trailer');

  const root = googleRpc();
  const status = root.lookupType('google.rpc.Status').decode(bin[0]);
  assert.strictEqual(status.code, grpc.status.INVALID_ARGUMENT);
  assert.strictEqual(status.message, err.details);
  const details = {};
  for (const any of status.details) {
    const name = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
    details[name] = root.lookupType(name).decode(any.value);
  }
  const info = details['google.rpc.ErrorInfo'];
  assert.ok(info, `no ErrorInfo in ${Object.keys(details).join(', ')}`);
  assert.strictEqual(info.domain, 'gridstock');
  assert.strictEqual(info.reason, 'FIELD_OUT_OF_RANGE');
  const bad = details['google.rpc.BadRequest'];
  assert.ok(bad, 'no BadRequest');
  assert.strictEqual(bad.field_violations.length, 1);
  assert.strictEqual(bad.field_violations[0].field, 'page_size');
  assert.match(bad.field_violations[0].description, /between 0 and 1000/);
});
