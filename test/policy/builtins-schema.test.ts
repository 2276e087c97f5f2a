// End-to-end tests of json.verify_schema and json.match_schema
// (engine/policy/builtins/schema.ts): Rego compiled to Wasm, evaluated
// through the SDK with our host builtins.
//
// Expected values are what OPA answers: its builtins validate with its fork
// of xeipuuv/gojsonschema, and each error object below (texts, types,
// fields, order) was checked against that library's own output. Where Go
// iterates a map its order is random; these cases have one error per map,
// or compare keys that busted visits in byte order. A builtin error makes
// the call undefined (OPA's non-strict mode).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { findTools } from '../../engine/policy/runtime/build.js';
import { load, result, table } from './helpers.js';

const tools = findTools();
const skip = 'missing' in tools ? tools.missing : undefined;

/** A schema or document as Rego: JSON is Rego's object syntax. */
const rego = (v: unknown): string => JSON.stringify(v);
/** The same value as a Rego string holding its JSON text. */
const text = (v: unknown): string => JSON.stringify(JSON.stringify(v));

/** One of match_schema's error objects. */
const err = (field: string, type: string, desc: string) => ({ error: `${field}: ${desc}`, type, field, desc });
const invalidType = (field: string, expected: string, given: string) => err(field, 'invalid_type', `Invalid type. Expected: ${expected}, given: ${given}`);

/**
 * json.match_schema(document, schema) as Rego text. OPA takes an object or
 * array as the document itself and a string as JSON text (a number, boolean
 * or null is an error), so a scalar document goes in as its JSON text.
 */
const match = (doc: unknown, schema: unknown): string =>
  `json.match_schema(${doc !== null && typeof doc === 'object' ? rego(doc) : text(doc)}, ${rego(schema)})`;
const ok: [boolean, unknown[]] = [true, []];
const no = (...errors: unknown[]): [boolean, unknown[]] => [false, errors];

describe('rego → wasm: json.verify_schema and json.match_schema', { skip }, () => {
  it('answers as OPA does for objects and JSON strings, either operand', async () => {
    const schema = { properties: { id: { type: 'integer' } }, required: ['id'] };
    await table([
      [match({ id: 5 }, schema), ok],
      [`json.match_schema(${text({ id: 5 })}, ${rego(schema)})`, ok],
      [`json.match_schema(${rego({ id: 5 })}, ${text(schema)})`, ok],
      [`json.match_schema(${text({ id: 'x' })}, ${text(schema)})`, no(invalidType('id', 'integer', 'string'))],
      [match({ id: 'foo' }, schema), no(invalidType('id', 'integer', 'string'))],
      // a document that is not JSON, or neither a string nor an object: an error
      ['json.match_schema("{", {})', undefined],
      ['json.match_schema(5, {})', undefined],
      ['json.match_schema(null, {})', undefined],
      // a JSON string holding a scalar is a document like any other
      [`json.match_schema(${text('abc')}, {"type": "integer"})`, no(invalidType('(root)', 'integer', 'string'))],
    ]);
  });

  it('json.verify_schema: [true, null], or [false, "jsonschema: …"] with gojsonschema\'s text', async () => {
    const bad = 'has a primitive type that is NOT VALID -- given: /unknown_type/ Expected valid values are:[array boolean integer number null object string]';
    await table([
      ['json.verify_schema({"type": "boolean"})', [true, null]],
      ['json.verify_schema(`{"type": "boolean"}`)', [true, null]],
      ['json.verify_schema({"type": "unknown_type"})', [false, `jsonschema: ${bad}`]],
      ['json.verify_schema(`{"type": "unknown_type"}`)', [false, `jsonschema: ${bad}`]],
      ['json.verify_schema(`{"type":`)', [false, 'jsonschema: invalid JSON string']],
      ['json.verify_schema(5)', [false, 'jsonschema: wrong type, expected string or object']],
      ['json.verify_schema(`5`)', [false, 'jsonschema: schema is invalid']],
      // each keyword's own complaint, gojsonschema's wording
      ['json.verify_schema({"type": ["string", "string"]})', [false, 'jsonschema: string type is duplicated']],
      ['json.verify_schema({"required": "id"})', [false, 'jsonschema: required must be of an array']],
      ['json.verify_schema({"required": ["a", "a"]})', [false, 'jsonschema: required items must be unique']],
      ['json.verify_schema({"minLength": -1})', [false, 'jsonschema: minLength must be greater than or equal to 0']],
      ['json.verify_schema({"minLength": 1.5})', [false, 'jsonschema: minLength must be of an integer']],
      ['json.verify_schema({"minLength": 3, "maxLength": 2})', [false, 'jsonschema: minLength cannot be greater than maxLength']],
      ['json.verify_schema({"minProperties": 3, "maxProperties": 2})', [false, 'jsonschema: minProperties cannot be greater than maxProperties']],
      ['json.verify_schema({"multipleOf": 0})', [false, 'jsonschema: multipleOf must be strictly greater than 0']],
      ['json.verify_schema({"minimum": "1"})', [false, 'jsonschema: minimum must be of a number']],
      ['json.verify_schema({"exclusiveMinimum": true})', [false, 'jsonschema: exclusiveMinimum cannot be used without minimum']],
      ['json.verify_schema({"pattern": "(a"})', [false, 'jsonschema: pattern must be a valid regex']],
      // RE2 has no lookaround or backreferences, though JavaScript does
      ['json.verify_schema({"pattern": "(?=a)"})', [false, 'jsonschema: pattern must be a valid regex']],
      ['json.verify_schema({"pattern": "(a)\\\\1"})', [false, 'jsonschema: pattern must be a valid regex']],
      ['json.verify_schema({"patternProperties": {"(": {}}})', [false, "jsonschema: Invalid regex pattern '('"]],
      ['json.verify_schema({"properties": 5})', [false, 'jsonschema: properties must be of type object']],
      ['json.verify_schema({"additionalProperties": 5})', [false, 'jsonschema: Invalid type. Expected: boolean/valid schema, given: additionalProperties']],
      ['json.verify_schema({"items": 5})', [false, 'jsonschema: Invalid type. Expected: valid schema/array of schemas, given: items']],
      ['json.verify_schema({"enum": [1, 1.0]})', [false, 'jsonschema: enum items must be unique']],
      ['json.verify_schema({"not": 5})', [false, 'jsonschema: not must be of an object']],
      ['json.verify_schema({"dependencies": {"a": [1]}})', [false, 'jsonschema: dependency must be of type schema or array of strings']],
      ['json.verify_schema({"$schema": 4})', [false, 'jsonschema: $schema must be of type string']],
      // nested schemas are checked too, definitions included
      ['json.verify_schema({"properties": {"a": {"items": {"type": "x"}}}})', [false, 'jsonschema: has a primitive type that is NOT VALID -- given: /x/ Expected valid values are:[array boolean integer number null object string]']],
      ['json.verify_schema({"definitions": {"a": {"minItems": -1}}})', [false, 'jsonschema: minItems must be greater than or equal to 0']],
      // draft 4 has no boolean schemas
      ['json.verify_schema({"$schema": "http://json-schema.org/draft-04/schema#", "not": true})', [false, 'jsonschema: Expected: valid schema, given: Invalid JSON']],
      ['json.verify_schema({"$schema": "http://json-schema.org/draft-07/schema#", "not": true})', [true, null]],
      // a reference must resolve; busted fetches none
      ['json.verify_schema({"$ref": "#/definitions/missing", "definitions": {}})', [false, "jsonschema: Object has no key 'missing'"]],
      ['json.verify_schema({"$ref": "other.json#/a"})', [false, 'jsonschema: Reference /other.json#/a must be canonical']],
      ['json.verify_schema({"$ref": "https://example.com/s.json"})[0]', false],
    ]);
  });

  it('an unusable schema makes json.match_schema undefined', async () => {
    await table([
      [match({ id: 'foo' }, { properties: { id: { type: 'unknown' } }, required: ['id'] }), undefined],
      [match({}, { minLength: -1 }), undefined],
      ['json.match_schema({}, `{"type": `)', undefined],
      [match({}, { $ref: 'https://example.com/s.json' }), undefined],
      [match({}, { $ref: '#/definitions/missing' }), undefined],
    ]);
  });

  it('type: one or several, "integer" taking 1.0, the given type named', async () => {
    await table([
      [match(1, { type: 'integer' }), ok],
      ['json.match_schema(`1.0`, {"type": "integer"})', ok],
      ['json.match_schema([1.0], {"items": {"type": "integer"}})', ok],
      [match(1.5, { type: 'integer' }), no(invalidType('(root)', 'integer', 'number'))],
      [match(1.5, { type: 'number' }), ok],
      [match(1, { type: 'number' }), ok],
      [match(null, { type: ['string', 'null'] }), ok],
      [match(3, { type: ['string', 'null'] }), no(invalidType('(root)', '[string,null]', 'integer'))],
      [match(null, { type: 'boolean' }), no(invalidType('(root)', 'boolean', 'null'))],
      [match([], { type: 'object' }), no(invalidType('(root)', 'object', 'array'))],
      [match({}, { type: 'array' }), no(invalidType('(root)', 'array', 'object'))],
      [match(true, { type: 'string' }), no(invalidType('(root)', 'string', 'boolean'))],
    ]);
  });

  it('objects: required, additionalProperties, patternProperties, propertyNames, min/maxProperties, dependencies', async () => {
    const strict = { properties: { id: { type: 'integer' }, name: { type: 'string' } }, required: ['id', 'name'], additionalProperties: false };
    await table([
      [match({ id: 1, name: 'x' }, strict), ok],
      // required comes before the properties' own errors
      [match({ id: 'a' }, strict), no(err('(root)', 'required', 'name is required'), invalidType('id', 'integer', 'string'))],
      [match({}, strict), no(err('(root)', 'required', 'id is required'), err('(root)', 'required', 'name is required'))],
      [match({ id: 1, name: 'x', extra: 1 }, strict), no(err('(root)', 'additional_property_not_allowed', 'Additional property extra is not allowed'))],
      [match({ a: 'x', b: 1 }, { additionalProperties: { type: 'string' } }), no(invalidType('b', 'string', 'integer'))],
      [match({ 'x-a': 1, y: 1 }, { patternProperties: { '^x-': { type: 'integer' } }, additionalProperties: false }), no(err('(root)', 'additional_property_not_allowed', 'Additional property y is not allowed'))],
      [match({ 'x-a': 'no' }, { patternProperties: { '^x-': { type: 'integer' } }, additionalProperties: false }), no(invalidType('x-a', 'integer', 'string'))],
      [match({ abc: 1 }, { propertyNames: { maxLength: 3 } }), ok],
      [
        match({ abcd: 1 }, { propertyNames: { maxLength: 3 } }),
        no(err('(root)', 'invalid_property_name', 'Property name of "abcd" does not match'), err('(root)', 'string_lte', 'String length must be less than or equal to 3')),
      ],
      [match({ a: 1, b: 2 }, { minProperties: 2, maxProperties: 3 }), ok],
      [match({}, { minProperties: 2 }), no(err('(root)', 'array_min_properties', 'Must have at least 2 properties'))],
      [match({ a: 1, b: 2 }, { maxProperties: 1 }), no(err('(root)', 'array_max_properties', 'Must have at most 1 properties'))],
      [match({ a: 1, b: 1, c: 1 }, { dependencies: { a: ['b', 'c'] } }), ok],
      [match({ a: 1 }, { dependencies: { a: ['b', 'c'] } }), no(err('(root)', 'missing_dependency', 'Has a dependency on b'), err('(root)', 'missing_dependency', 'Has a dependency on c'))],
      [match({ d: 1 }, { dependencies: { d: { required: ['e'] } } }), no(err('(root)', 'required', 'e is required'))],
      // keywords for objects say nothing about other values
      [match('str', strict), ok],
    ]);
  });

  it('arrays: items (one schema or a tuple), additionalItems, min/maxItems, uniqueItems, contains', async () => {
    const tuple = { items: [{ type: 'integer' }, { type: 'string' }], additionalItems: false };
    await table([
      [match([1, 2], { items: { type: 'integer' } }), ok],
      [match([1, 2, 'x', 4.5], { items: { type: 'integer' } }), no(invalidType('2', 'integer', 'string'), invalidType('3', 'integer', 'number'))],
      [match([1, 'a'], tuple), ok],
      [match([1, 'a', 3], tuple), no(err('(root)', 'array_no_additional_items', 'No additional items allowed on array'))],
      [match(['a'], tuple), no(invalidType('0', 'integer', 'string'))],
      [match([1, 'a', 2], { items: [{ type: 'integer' }], additionalItems: { type: 'string' } }), no(invalidType('2', 'string', 'integer'))],
      [match([1], { minItems: 2 }), no(err('(root)', 'array_min_items', 'Array must have at least 2 items'))],
      [match([1, 2, 3], { maxItems: 2 }), no(err('(root)', 'array_max_items', 'Array must have at most 2 items'))],
      [match([1, 2], { uniqueItems: true }), ok],
      // each repeat against the last equal item before it; 1.0 is 1, objects equal whatever their key order
      [match([1, 2, 1, 1], { uniqueItems: true }), no(err('(root)', 'unique', 'array items[0,2] must be unique'), err('(root)', 'unique', 'array items[2,3] must be unique'))],
      ['json.match_schema([{"a": 1, "b": 2}, {"b": 2, "a": 1.0}], {"uniqueItems": true})', no(err('(root)', 'unique', 'array items[0,1] must be unique'))],
      [match([1, 'a'], { contains: { type: 'string' } }), ok],
      // no item matches: the closest item's errors (the first, on a tie)
      [match([1, 2], { contains: { type: 'string' } }), no(err('(root)', 'contains', 'At least one of the items must match'), invalidType('0', 'string', 'integer'))],
      [match([], { contains: { type: 'string' } }), no(err('(root)', 'contains', 'At least one of the items must match'))],
      [match([[1, ['x']]], { items: { items: { items: { type: 'integer' } } } }), no(invalidType('0.1.0', 'integer', 'string'))],
    ]);
  });

  it('numbers: limits in draft 4 and draft 6+ forms, multipleOf in exact decimals, limits printed as Go prints them', async () => {
    const d4 = 'http://json-schema.org/draft-04/schema#';
    await table([
      [match(7.5, { minimum: 5, maximum: 10 }), ok],
      [match(4, { minimum: 5 }), no(err('(root)', 'number_gte', 'Must be greater than or equal to 5'))],
      [match(11, { maximum: 10 }), no(err('(root)', 'number_lte', 'Must be less than or equal to 10'))],
      [match(5, { exclusiveMinimum: 5 }), no(err('(root)', 'number_gt', 'Must be greater than 5'))],
      [match(10, { exclusiveMaximum: 10 }), no(err('(root)', 'number_lt', 'Must be less than 10'))],
      [match(6, { exclusiveMinimum: 5, exclusiveMaximum: 10 }), ok],
      // draft 4's boolean form moves the plain limit; without $schema either form is taken
      [match(5, { $schema: d4, minimum: 5, exclusiveMinimum: true }), no(err('(root)', 'number_gt', 'Must be greater than 5'))],
      [match(5, { $schema: d4, minimum: 5, exclusiveMinimum: false }), ok],
      [match(10, { maximum: 10, exclusiveMaximum: true }), no(err('(root)', 'number_lt', 'Must be less than 10'))],
      [`json.verify_schema(${rego({ $schema: d4, exclusiveMinimum: 3 })})`, [false, 'jsonschema: Invalid type. Expected: boolean, given: exclusiveMinimum']],
      [`json.verify_schema(${rego({ $schema: 'http://json-schema.org/draft-07/schema#', minimum: 1, exclusiveMinimum: true })})`, [false, 'jsonschema: Invalid type. Expected: number, given: exclusiveMinimum']],
      // 0.3 / 0.1 is 3 in decimals, not 2.9999999999999996
      [match(0.3, { multipleOf: 0.1 }), ok],
      [match(19.99, { multipleOf: 0.01 }), ok],
      [match(0.35, { multipleOf: 0.1 }), no(err('(root)', 'multiple_of', 'Must be a multiple of 0.1'))],
      [match(10, { multipleOf: 3 }), no(err('(root)', 'multiple_of', 'Must be a multiple of 3'))],
      [match(2000000, { maximum: 1000000 }), no(err('(root)', 'number_lte', 'Must be less than or equal to 1e+06'))],
      [match(2000000, { maximum: 123456.5 }), no(err('(root)', 'number_lte', 'Must be less than or equal to 123456.5'))],
      [match(0, { minimum: 0.00001 }), no(err('(root)', 'number_gte', 'Must be greater than or equal to 1e-05'))],
      [match(0, { minimum: 0.0001 }), no(err('(root)', 'number_gte', 'Must be greater than or equal to 0.0001'))],
      // numeric keywords say nothing about strings
      [match('100', { maximum: 10 }), ok],
    ]);
  });

  it('strings: lengths in runes, pattern as RE2, formats as gojsonschema checks them', async () => {
    await table([
      [match('ab', { minLength: 2, maxLength: 3 }), ok],
      [match('a', { minLength: 2 }), no(err('(root)', 'string_gte', 'String length must be greater than or equal to 2'))],
      [match('abcd', { maxLength: 3 }), no(err('(root)', 'string_lte', 'String length must be less than or equal to 3'))],
      // one rune each, though two UTF-16 units
      [match('😀😀', { maxLength: 2 }), ok],
      [match('😀', { minLength: 2 }), no(err('(root)', 'string_gte', 'String length must be greater than or equal to 2'))],
      [match('abc', { pattern: '^[a-z]+$' }), ok],
      [match('aBc', { pattern: '^[a-z]+$' }), no(err('(root)', 'pattern', "Does not match pattern '^[a-z]+$'"))],
      // unanchored search, as Go's MatchString
      [match('abc', { pattern: 'b' }), ok],
      // RE2 escapes any punctuation, takes POSIX classes, stray braces, (?i) and \z; the 'u' flag alone refuses most of these
      [match('a-b_c', { pattern: '^[a-z\\-\\_]+$' }), ok],
      [match('@#', { pattern: '^\\@\\#$' }), ok],
      [match('ab1', { pattern: '^[[:alpha:]]+$' }), no(err('(root)', 'pattern', "Does not match pattern '^[[:alpha:]]+$'"))],
      [match('{a}', { pattern: '^{a}$' }), ok],
      [match('ABC', { pattern: '(?i)^abc\\z' }), ok],
      [match('ab\n', { pattern: '^ab\\z' }), no(err('(root)', 'pattern', "Does not match pattern '^ab\\z'"))],
      // RE2's . takes \r, its \s is ASCII only
      [match('a\rb', { pattern: '^a.b$' }), ok],
      [match('\u00a0', { pattern: '^\\s$' }), no(err('(root)', 'pattern', "Does not match pattern '^\\s$'"))],
      [match(5, { pattern: '^a$', minLength: 3 }), ok],
    ]);
  });

  it('format: email, date-time, ipv4, ipv6, uri, hostname, uuid …; an unknown format passes', async () => {
    const fmt = (format: string, valid: string[], invalid: string[]): Array<[string, unknown]> => [
      ...valid.map((v): [string, unknown] => [match(v, { format }), ok]),
      ...invalid.map((v): [string, unknown] => [match(v, { format }), no(err('(root)', 'format', `Does not match format '${format}'`))]),
    ];
    await table([
      // net/mail.ParseAddress: a display name is allowed, a TLD is not required
      ...fmt('email', ['a@b.com', 'a@b', 'John <a@b.com>', '"John Doe" <a@b.com>', '"a b"@c.com'], ['a b@c.com', '@b.com', 'a@', 'a..b@c.com', 'plain']),
      // time.Parse with RFC 3339 and its parts; days checked against the month
      ...fmt('date-time', ['2020-01-01T00:00:00Z', '2020-01-01T00:00:00.123+01:00', '2024-02-29T10:00:00Z', '12:00:00', '2020-01-01'], ['2020-02-30T00:00:00Z', '2020-01-01 00:00:00Z', '2020-01-01T24:00:00Z', '2020-01-01T00:00:00', '2021-02-29T00:00:00Z']),
      ...fmt('date', ['2020-01-01'], ['2020-13-01', '20200101']),
      ...fmt('time', ['12:00:00', '12:00:00+01:00'], ['25:00:00', '12:00']),
      // net.ParseIP, then the family by '.' or ':'
      ...fmt('ipv4', ['1.2.3.4', '::ffff:1.2.3.4'], ['256.1.1.1', '01.2.3.4', '1.2.3']),
      ...fmt('ipv6', ['::1', '2001:db8::1', '1:2:3:4:5:6:7:8'], ['1.2.3.4', 'fe80::1%eth0', '1::2::3']),
      // url.Parse with a scheme and no backslash
      ...fmt('uri', ['http://example.com', 'mailto:a@b', 'http://a.com/a b'], ['example.com', '/path', 'http://a b.com', 'http://a.com/%zz']),
      ...fmt('uri-reference', ['/path', '#frag'], ['1a:b']),
      ...fmt('hostname', ['example.com', 'localhost'], ['-bad.com', 'a_b.com', `${'a'.repeat(64)}.com`]),
      ...fmt('uuid', ['123e4567-e89b-12d3-a456-426614174000', '123E4567-E89B-12D3-A456-426614174000'], ['123e4567e89b12d3a456426614174000']),
      ...fmt('regex', ['^a+$'], ['(', '(?=a)']),
      ...fmt('json-pointer', ['/a/b', ''], ['a', '/a~2']),
      ...fmt('relative-json-pointer', ['0', '1/a', '0#'], ['01', '-1']),
      ...fmt('uri-template', ['http://x/{a}'], ['http://x/{a']),
      [match('anything', { format: 'not-a-format' }), ok],
      [match(5, { format: 'email' }), ok],
    ]);
  });

  it('enum and const: compared as Go marshals the values, listed in its JSON', async () => {
    await table([
      [match('a', { enum: ['a', 'b'] }), ok],
      ['json.match_schema({"x": [1.0, 2]}, {"enum": [{"x": [1, 2]}]})', ok],
      [match('c', { enum: ['a', 1, null] }), no(err('(root)', 'enum', '(root) must be one of the following: "a", 1, null'))],
      [match({ a: 3 }, { properties: { a: { enum: [1, 2] } } }), no(err('a', 'enum', 'a must be one of the following: 1, 2'))],
      [match({ x: [2, 1] }, { enum: [{ x: [1, 2] }] }), no(err('(root)', 'enum', '(root) must be one of the following: {"x":[1,2]}'))],
      // Go escapes HTML characters in JSON
      [match('x', { enum: ['<a&b>'] }), no(err('(root)', 'enum', '(root) must be one of the following: "\\u003ca\\u0026b\\u003e"'))],
      // OPA's fork: an empty enum allows nothing
      [match(1, { enum: [] }), no(err('(root)', 'enum', '(root) must be one of the following: (none)'))],
      [match({ b: [true], a: 1 }, { const: { a: 1, b: [true] } }), ok],
      [match({ a: 2 }, { const: { b: [true], a: 1 } }), no(err('(root)', 'const', '(root) does not match: {"a":1,"b":[true]}'))],
      [match({ a: 1 }, { properties: { a: { const: null } } }), no(err('a', 'const', 'a does not match: null'))],
    ]);
  });

  it('allOf, anyOf, oneOf, not, if/then/else: the closest branch\'s errors, in gojsonschema\'s order', async () => {
    const person = { type: 'object', required: ['name', 'age'], properties: { name: { type: 'string' }, age: { type: 'integer', minimum: 0 } } };
    await table([
      [match('a', { anyOf: [{ type: 'string' }, { type: 'integer', minimum: 5 }] }), ok],
      [match(3, { anyOf: [{ type: 'string' }, { type: 'integer', minimum: 5 }] }), no(err('(root)', 'number_any_of', 'Must validate at least one schema (anyOf)'), err('(root)', 'number_gte', 'Must be greater than or equal to 5'))],
      // the object branch passed more checks, so its errors are the ones reported
      [match({ name: 'a', age: -1 }, { anyOf: [{ type: 'string' }, person] }), no(err('(root)', 'number_any_of', 'Must validate at least one schema (anyOf)'), err('age', 'number_gte', 'Must be greater than or equal to 0'))],
      [match(5, { anyOf: [{ type: 'string' }, person] }), no(err('(root)', 'number_any_of', 'Must validate at least one schema (anyOf)'), invalidType('(root)', 'string', 'integer'))],
      [match(3, { oneOf: [{ type: 'integer' }, { type: 'string' }] }), ok],
      [match(3, { oneOf: [{ type: 'integer' }, { minimum: 2 }] }), no(err('(root)', 'number_one_of', 'Must validate one and only one schema (oneOf)'))],
      [match('x', { oneOf: [{ type: 'integer' }, { type: 'boolean' }] }), no(err('(root)', 'number_one_of', 'Must validate one and only one schema (oneOf)'), invalidType('(root)', 'integer', 'string'))],
      [match(3, { allOf: [{ type: 'integer' }, { minimum: 2 }] }), ok],
      // allOf: the branches' errors first, then its own
      [match(1, { allOf: [{ type: 'integer' }, { minimum: 2 }, { maximum: 5 }] }), no(err('(root)', 'number_gte', 'Must be greater than or equal to 2'), err('(root)', 'number_all_of', 'Must validate all the schemas (allOf)'))],
      [match(1, { not: { type: 'string' } }), ok],
      [match('a', { not: { type: 'string' } }), no(err('(root)', 'number_not', 'Must not validate the schema (not)'))],
      [match({ a: 1, b: 1 }, { if: { properties: { a: { const: 1 } } }, then: { required: ['b'] }, else: { required: ['c'] } }), ok],
      [match({ a: 1 }, { if: { properties: { a: { const: 1 } } }, then: { required: ['b'] }, else: { required: ['c'] } }), no(err('(root)', 'condition_then', 'Must validate "then" as "if" was valid'), err('(root)', 'required', 'b is required'))],
      [match({ a: 2 }, { if: { properties: { a: { const: 1 } } }, then: { required: ['b'] }, else: { required: ['c'] } }), no(err('(root)', 'condition_else', 'Must validate "else" as "if" was not valid'), err('(root)', 'required', 'c is required'))],
      // draft 4 knows neither if nor const; draft 6 knows const but not if
      [match(2, { $schema: 'http://json-schema.org/draft-04/schema#', if: { type: 'integer' }, then: { minimum: 5 }, const: 1 }), ok],
      [match(2, { $schema: 'http://json-schema.org/draft-06/schema#', if: { type: 'integer' }, then: { minimum: 5 } }), ok],
      [match(2, { $schema: 'http://json-schema.org/draft-07/schema#', if: { type: 'integer' }, then: { minimum: 5 } }), no(err('(root)', 'condition_then', 'Must validate "then" as "if" was valid'), err('(root)', 'number_gte', 'Must be greater than or equal to 5'))],
    ]);
  });

  it('boolean schemas: true takes anything, false nothing', async () => {
    await table([
      // at the root, as JSON text: a Rego boolean operand is neither a string nor an object
      [match(1, 'true'), ok],
      [match(1, 'false'), no(err('(root)', 'false', 'False always fails validation'))],
      ['json.match_schema("1", true)', undefined],
      ['json.verify_schema(false)', [false, 'jsonschema: wrong type, expected string or object']],
      [match({ a: 1, b: 2 }, { properties: { a: false, b: true } }), no(err('a', 'false', 'False always fails validation'))],
      [match([1], { items: false }), no(err('0', 'false', 'False always fails validation'))],
      [match([], { items: false }), ok],
    ]);
  });

  it('$ref: definitions, $defs, any JSON pointer, recursion, $id', async () => {
    const tree = {
      definitions: {
        pos: { type: 'integer', minimum: 1 },
        node: { type: 'object', properties: { v: { $ref: '#/definitions/pos' }, next: { $ref: '#/definitions/node' } } },
      },
      properties: { n: { $ref: '#/definitions/node' } },
    };
    await table([
      [match({ n: { v: 1, next: { v: 2 } } }, tree), ok],
      // busted visits "next" before "v" (byte order); Go's map order is random
      [match({ n: { v: 1, next: { v: 0, next: { v: 'x' } } } }, tree), no(invalidType('n.next.next.v', 'integer', 'string'), err('n.next.v', 'number_gte', 'Must be greater than or equal to 1'))],
      [match({ a: 1 }, { $defs: { s: { type: 'string' } }, properties: { a: { $ref: '#/$defs/s' } } }), no(invalidType('a', 'string', 'integer'))],
      [match({ b: 1 }, { properties: { a: { type: 'string' }, b: { $ref: '#/properties/a' } } }), no(invalidType('b', 'string', 'integer'))],
      [match({ c: 1 }, { properties: { 'a/b': { type: 'string' }, c: { $ref: '#/properties/a~1b' } } }), no(invalidType('c', 'string', 'integer'))],
      [match(1, { $ref: '#/definitions/a', definitions: { a: { type: 'string' } } }), no(invalidType('(root)', 'string', 'integer'))],
      [match([1, [2, ['x']]], { items: { $ref: '#' }, type: ['array', 'integer'] }), no(invalidType('1.1.0', '[array,integer]', 'string'))],
      // "$id" sets the base a reference resolves against; "#name" names a schema
      [
        match({ x: 1, y: 2 }, { $id: 'http://example.com/root.json', definitions: { a: { $id: '#foo', type: 'string' } }, properties: { x: { $ref: '#foo' }, y: { $ref: 'http://example.com/root.json#/definitions/a' } } }),
        no(invalidType('x', 'string', 'integer'), invalidType('y', 'string', 'integer')),
      ],
      // a schema with a $ref is that reference: its other keywords are not read
      [match(1, { $ref: '#/definitions/a', type: 'string', definitions: { a: { minimum: 3 } } }), no(err('(root)', 'number_gte', 'Must be greater than or equal to 3'))],
      // inside properties, "$ref" is a property's name
      [match({ $ref: 1 }, { properties: { $ref: { type: 'string' } } }), no(invalidType('$ref', 'string', 'integer'))],
    ]);
  });

  it('a tool call\'s arguments checked against the tool\'s inputSchema (MCP)', async () => {
    const tools = {
      read_file: {
        inputSchema: {
          type: 'object',
          properties: {
            path: { type: 'string', minLength: 1, pattern: '^/workspace/' },
            mode: { enum: ['text', 'binary'] },
            max_bytes: { type: 'integer', minimum: 1, maximum: 1048576 },
          },
          required: ['path'],
          additionalProperties: false,
        },
      },
    };
    const src = `package mcp
import rego.v1

call := input.params

schema := data.tools[call.name].inputSchema

default allow := false

allow if json.match_schema(call.arguments, schema)[0]

violations contains msg if {
	some e in json.match_schema(call.arguments, schema)[1]
	msg := sprintf("%s: %s", [call.name, e.error])
}
`;
    const p = await load(src, ['mcp/allow', 'mcp/violations'], { tools });
    const call = (args: unknown) => ({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'read_file', arguments: args } });
    const good = call({ path: '/workspace/a.txt', mode: 'text', max_bytes: 4096 });
    assert.equal(result(p, 'mcp/allow', good), true);
    assert.deepEqual(result(p, 'mcp/violations', good), []);
    const bad = call({ path: '/etc/passwd', mode: 'exec', max_bytes: 1e9, follow_links: true });
    assert.equal(result(p, 'mcp/allow', bad), false);
    assert.deepEqual(
      (result(p, 'mcp/violations', bad) as string[]).sort(),
      [
        'read_file: (root): Additional property follow_links is not allowed',
        'read_file: max_bytes: Must be less than or equal to 1.048576e+06',
        'read_file: mode: mode must be one of the following: "text", "binary"',
        "read_file: path: Does not match pattern '^/workspace/'",
      ],
    );
    assert.deepEqual(result(p, 'mcp/violations', call({})), ['read_file: (root): path is required']);
  });
});
