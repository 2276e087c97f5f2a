// Tests of the GraphQL builtins (engine/policy/builtins/graphql.ts): Rego
// compiled to Wasm and evaluated through the SDK with our host builtins, and
// the error messages from the implementations themselves.
//
// Expected ASTs are gqlparser's Go structs as OPA answers them: JSON field
// names, "Position", nulls and empty lists pruned, "" / false / 0 kept.
// Messages are gqlparser's, positioned as OPA formats them ("… in GraphQL
// string at location L:C"). A builtin error makes the call undefined.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { IMPLS } from '../../engine/policy/builtins/graphql.js';
import { findTools } from '../../engine/policy/runtime/build.js';
import { table } from './helpers.js';

const tools = findTools();
const skip = 'missing' in tools ? tools.missing : undefined;

/** A GraphQL text as a Rego raw string. */
const raw = (s: string): string => `\`${s}\``;

/** The message a builtin fails with. */
function failure(name: string, ...args: unknown[]): string {
  try {
    IMPLS[name]!(...args);
  } catch (e) {
    return (e as Error).message;
  }
  return assert.fail(`${name} did not fail`);
}

const SHOP = `
  type Query {
    item(sku: String!): Item
    items(first: Int = 10): [Item!]!
  }
  type Item {
    sku: String!
    price: Float
    kind: Kind
  }
  enum Kind { BOOK TOY }
`;

const value = (Kind: number, Raw: string, extra: object = {}) => ({ ExpectedTypeHasDefault: false, Kind, Raw, ...extra });

describe('graphql builtins: ASTs as OPA answers them', () => {
  it('parse_query: operations, fields, arguments, variables and values', () => {
    const ast = IMPLS['graphql.parse_query']!(`query Shop($s: String! = "x", $k: [Kind]) @live {
      a: item(sku: $s) { price }
      items(first: 2, tags: [BOOK, null], where: {min: 1.5, ok: true}) { ...Parts ... on Item { sku } ... @skip(if: false) { kind } }
    }
    fragment Parts on Item { sku }`);
    assert.deepEqual(ast, {
      Fragments: [{ Name: 'Parts', SelectionSet: [{ Alias: 'sku', Name: 'sku' }], TypeCondition: 'Item' }],
      Operations: [
        {
          Directives: [{ Location: '', Name: 'live' }],
          Name: 'Shop',
          Operation: 'query',
          SelectionSet: [
            { Alias: 'a', Arguments: [{ Name: 'sku', Value: value(0, 's') }], Name: 'item', SelectionSet: [{ Alias: 'price', Name: 'price' }] },
            {
              Alias: 'items',
              Arguments: [
                { Name: 'first', Value: value(1, '2') },
                { Name: 'tags', Value: value(8, '', { Children: [{ Name: '', Value: value(7, 'BOOK') }, { Name: '', Value: value(6, 'null') }] }) },
                { Name: 'where', Value: value(9, '', { Children: [{ Name: 'min', Value: value(2, '1.5') }, { Name: 'ok', Value: value(5, 'true') }] }) },
              ],
              Name: 'items',
              SelectionSet: [
                { Name: 'Parts' },
                { SelectionSet: [{ Alias: 'sku', Name: 'sku' }], TypeCondition: 'Item' },
                {
                  Directives: [{ Arguments: [{ Name: 'if', Value: value(5, 'false') }], Location: '', Name: 'skip' }],
                  SelectionSet: [{ Alias: 'kind', Name: 'kind' }],
                  TypeCondition: '',
                },
              ],
            },
          ],
          VariableDefinitions: [
            { DefaultValue: value(3, 'x'), Type: { NamedType: 'String', NonNull: true }, Used: false, Variable: 's' },
            { Type: { Elem: { NamedType: 'Kind', NonNull: false }, NamedType: '', NonNull: false }, Used: false, Variable: 'k' },
          ],
        },
      ],
    });
  });

  it('parse_query: comments are kept where gqlparser attaches them', () => {
    const ast = IMPLS['graphql.parse_query']!('# lead\nquery Q {\n  # on the field\n  f\n}\n# on the shorthand\n{ g }') as { Operations: Array<Record<string, unknown>> };
    assert.deepEqual(ast.Operations[0]!.Comment, { List: [{ Value: '# lead' }] });
    assert.deepEqual((ast.Operations[0]!.SelectionSet as unknown[])[0], { Alias: 'f', Comment: { List: [{ Value: '# on the field' }] }, Name: 'f' });
    // the shorthand form never carries its comment (Go reads p.comment after parsing the selection set)
    assert.equal(ast.Operations[1]!.Comment, undefined);
  });

  it('parse_schema: definitions, extensions, schema and directives', () => {
    const ast = IMPLS['graphql.parse_schema']!(`
      """
        Sold here
      """
      type Item implements & Node & Priced @key(fields: "sku") { "id" sku: ID! tags(limit: Int = 3): [String] }
      union Any = | Item | Other
      input Filter { min: Float = 0 }
      extend enum Kind { GAME }
      schema { query: Root }
      extend schema @tag
      directive @key(fields: String!) repeatable on OBJECT | INTERFACE`);
    assert.deepEqual(ast, {
      Definitions: [
        {
          BuiltIn: false,
          Description: 'Sold here',
          Directives: [{ Arguments: [{ Name: 'fields', Value: value(3, 'sku') }], Location: '', Name: 'key' }],
          Fields: [
            { Description: 'id', Name: 'sku', Type: { NamedType: 'ID', NonNull: true } },
            { Arguments: [{ DefaultValue: value(1, '3'), Description: '', Name: 'limit', Type: { NamedType: 'Int', NonNull: false } }], Description: '', Name: 'tags', Type: { Elem: { NamedType: 'String', NonNull: false }, NamedType: '', NonNull: false } },
          ],
          Interfaces: ['Node', 'Priced'],
          Kind: 'OBJECT',
          Name: 'Item',
        },
        { BuiltIn: false, Description: '', Kind: 'UNION', Name: 'Any', Types: ['Item', 'Other'] },
        { BuiltIn: false, Description: '', Fields: [{ DefaultValue: value(1, '0'), Description: '', Name: 'min', Type: { NamedType: 'Float', NonNull: false } }], Kind: 'INPUT_OBJECT', Name: 'Filter' },
      ],
      Directives: [{ Arguments: [{ Description: '', Name: 'fields', Type: { NamedType: 'String', NonNull: true } }], Description: '', IsRepeatable: true, Locations: ['OBJECT', 'INTERFACE'], Name: 'key' }],
      Extensions: [{ BuiltIn: false, Description: '', EnumValues: [{ Description: '', Name: 'GAME' }], Kind: 'ENUM', Name: 'Kind' }],
      Schema: [{ Description: '', OperationTypes: [{ Operation: 'query', Type: 'Root' }] }],
      SchemaExtension: [{ Description: '', Directives: [{ Location: '', Name: 'tag' }] }],
    });
  });
});

describe('graphql builtins: errors as OPA words them', () => {
  it('parse errors: gqlparser message at line:column', () => {
    assert.equal(failure('graphql.parse_query', 'query {'), 'graphql.parse_query: Expected Name, found <EOF> in GraphQL string at location 1:8');
    assert.equal(failure('graphql.parse_query', '{ a(x: $v) }\nfragment on on T { a }'), 'graphql.parse_query: Unexpected Name "on" in GraphQL string at location 2:10');
    assert.equal(failure('graphql.parse_query', 'query Q($v: Int = $w) { a }'), 'graphql.parse_query: Unexpected $ in GraphQL string at location 1:19');
    assert.equal(failure('graphql.parse_query', 'mutation { }'), 'graphql.parse_query: expected at least one definition, found } in GraphQL string at location 1:12');
    assert.equal(failure('graphql.parse_query', 'schema { q: Q }'), 'graphql.parse_query: Unexpected Name "schema" in GraphQL string at location 1:1');
    // a lexing error shows as an invalid token where the lexer stopped
    assert.equal(failure('graphql.parse_query', '{ a(x: "open\n) }'), 'graphql.parse_query: Unexpected <Invalid> in GraphQL string at location 1:13');
    assert.equal(failure('graphql.parse_schema', 'type T { a: Int }\n  "doc" extend type T { b: Int }'), 'graphql.parse_schema: Unexpected String "doc" in GraphQL string at location 2:4');
    assert.equal(failure('graphql.parse_schema', 'extend union U'), 'graphql.parse_schema: Unexpected <EOF> in GraphQL string at location 1:15');
    assert.equal(failure('graphql.parse_schema', 'directive @d on NOWHERE'), 'graphql.parse_schema: Unexpected Name "NOWHERE" in GraphQL string at location 1:17');
    assert.equal(failure('graphql.parse_schema', 'enum E { A } type T implements'), 'graphql.parse_schema: Expected Name, found <EOF> in GraphQL string at location 1:31');
    assert.equal(failure('graphql.parse_query', 5), 'graphql.parse_query: operand 1 must be string but got number');
  });

  it('validation errors: the rule messages, trailing period dropped', () => {
    assert.equal(failure('graphql.parse', '{ item { price } }', SHOP), 'graphql.parse: Field "item" argument "sku" of type "String!" is required, but it was not provided in GraphQL string at location 1:3');
    assert.equal(failure('graphql.parse', '{ items(first: 1) { weight } }', SHOP), 'graphql.parse: Cannot query field "weight" on type "Item" in GraphQL string at location 1:21');
    assert.equal(failure('graphql.parse', 'query Q($n: Int) { items { sku } }', SHOP), 'graphql.parse: Variable "$n" is never used in operation "Q" in GraphQL string at location 1:9');
    assert.equal(failure('graphql.parse', 'mutation { items { sku } }', SHOP), 'graphql.parse: Schema does not support operation type "mutation"\n in GraphQL string at location 1:1');
    // every error of the list, the first one's location last (OPA splits gqlerror.List's text at its first colons)
    assert.equal(failure('graphql.parse', '{ items(first: "2") { kind(x: 1) } }', SHOP), 'graphql.parse: Int cannot represent non-integer value: "2"\ninput:1:23: Unknown argument "x" on field "Item.kind" in GraphQL string at location 1:17');
    assert.equal(failure('graphql.parse', '{ a }', 'type Query { a: Missing }'), 'graphql.parse: Error in gqlparser SchemaDocument to Schema conversion: input:1:17: Undefined type Missing.');
  });

  it('uniqueness rules: every repeat of an operation, fragment or directive; arguments and variables once per name', () => {
    const tagged = `${SHOP}\n  directive @tag on FIELD\n  directive @many repeatable on FIELD\n`;
    assert.equal(failure('graphql.parse', "{ item(sku: \"a\", sku: \"b\", sku: \"c\") { sku } }", tagged), "graphql.parse: There can be only one argument named \"sku\" in GraphQL string at location 1:18");
    assert.equal(failure('graphql.parse', "query Q { items { sku } } query Q { items { sku } } query Q { items { price } }", tagged), "graphql.parse: There can be only one operation named \"Q\".\ninput:1:53: There can be only one operation named \"Q\" in GraphQL string at location 1:27");
    assert.equal(failure('graphql.parse', "query($a: Int, $a: Int, $a: Int) { items(first: $a) { sku } }", tagged), "graphql.parse: Variable \"$a\" is never used.\ninput:1:25: Variable \"$a\" is never used.\ninput:1:16: There can be only one variable named \"$a\" in GraphQL string at location 1:16");
    assert.equal(failure('graphql.parse', "{ items { ...F } } fragment F on Item { sku } fragment F on Item { price }", tagged), "graphql.parse: There can be only one fragment named \"F\" in GraphQL string at location 1:47");
    assert.equal(failure('graphql.parse', "{ items { sku @tag @tag @tag price @many @many } }", tagged), "graphql.parse: The directive \"@tag\" can only be used once at this location.\ninput:1:26: The directive \"@tag\" can only be used once at this location in GraphQL string at location 1:21");
  });
});

describe('rego → wasm: graphql builtins', { skip }, () => {
  it('parse, parse_and_verify and is_valid agree on valid and invalid queries', async () => {
    const good = raw('query($s: String!) { item(sku: $s) { price kind } }');
    const bad = raw('{ item(sku: "a") { colour } }');
    await table([
      [`graphql.is_valid(${good}, ${raw(SHOP)})`, true],
      [`graphql.is_valid(${bad}, ${raw(SHOP)})`, false],
      [`graphql.is_valid("{", ${raw(SHOP)})`, false],
      [`graphql.is_valid(${good}, 7)`, false],
      [`graphql.parse_and_verify(${bad}, ${raw(SHOP)})`, [false, {}, {}]],
      [`graphql.parse_and_verify(${good}, ${raw(SHOP)})[0]`, true],
      [`graphql.parse(${good}, ${raw(SHOP)})[1] == graphql.parse_schema(${raw(SHOP)})`, true],
      [`graphql.parse(${bad}, ${raw(SHOP)})`, undefined],
      [`graphql.parse_query("{")`, undefined],
    ]);
  });

  it('takes AST objects: each round-trips through gqlparser\'s structs', async () => {
    const q = raw('{ item(sku: "b") { sku } }');
    await table([
      [`graphql.is_valid(graphql.parse_query(${q}), graphql.parse_schema(${raw(SHOP)}))`, true],
      [`graphql.parse(graphql.parse_query(${q}), graphql.parse_schema(${raw(SHOP)})) == [graphql.parse_query(${q}), graphql.parse_schema(${raw(SHOP)})]`, true],
      // missing fields come back as Go's zero values; keys match case-insensitively
      [`graphql.parse({"operations": [{"Operation": "query", "SelectionSet": [{"Name": "items", "SelectionSet": [{"Name": "sku"}]}]}]}, ${raw(SHOP)})[0]`, { Operations: [{ Name: '', Operation: 'query', SelectionSet: [{ Alias: '', Name: 'items', SelectionSet: [{ Alias: '', Name: 'sku' }] }] }] }],
      // a field of the wrong type is an error
      [`graphql.is_valid({"Operations": [{"Name": 1}]}, ${raw(SHOP)})`, false],
      [`graphql.schema_is_valid(graphql.parse_schema(${raw(SHOP)}))`, true],
    ]);
  });

  it('schema_is_valid: gqlparser\'s schema rules', async () => {
    await table([
      ['graphql.schema_is_valid(`type T { a: Int }`)', true],
      ['graphql.schema_is_valid(`extend type T { a: Int }`)', true],
      ['graphql.schema_is_valid(`type T { a: Nope }`)', false],
      ['graphql.schema_is_valid(`type T { a: Int }  type T { b: Int }`)', false],
      ['graphql.schema_is_valid(`interface I { a: Int } type T implements I { b: Int }`)', false],
      ['graphql.schema_is_valid(`input A { b: B! } input B { a: A! }`)', false],
      ['graphql.schema_is_valid(`input A { b: B } input B { a: A! }`)', true],
      ['graphql.schema_is_valid(`type T { a: Int @skip(if: true) }`)', false],
      ['graphql.schema_is_valid(`scalar S  extend type S @deprecated`)', false],
      ['graphql.schema_is_valid(`schema { query: Root }`)', false],
      ['graphql.schema_is_valid(`union U = A  type A { x: Int }`)', true],
      ['graphql.schema_is_valid(`type __T { a: Int }`)', false],
      ['graphql.schema_is_valid(5)', false],
    ]);
  });
});
