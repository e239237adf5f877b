// Prettier plugin: the `assemblyscript` parser, for assembly/ and test/kernels/.
// AssemblyScript puts decorators where TypeScript's grammar does not allow them (`@inline function`,
// `@global let`); TypeScript still parses them, but Prettier's ESTree refuses the file. So before parsing,
// each such decorator becomes a marked block comment of the same text, which Prettier keeps in place, and
// the printer writes the decorator back. Decorators on classes and their members are valid TypeScript and
// are left to Prettier. (assemblyscript-prettier does the same; its output is not stable from one run to
// the next, and it pulls a second AssemblyScript compiler.)
import ts from 'typescript';
import * as estree from 'prettier/plugins/estree';
import * as typescript from 'prettier/plugins/typescript';

const MARK = 'qt-as-decorator:';
const CLASS_PLACES = new Set([
  ts.SyntaxKind.ClassDeclaration,
  ts.SyntaxKind.ClassExpression,
  ts.SyntaxKind.PropertyDeclaration,
  ts.SyntaxKind.MethodDeclaration,
  ts.SyntaxKind.GetAccessor,
  ts.SyntaxKind.SetAccessor,
  ts.SyntaxKind.Parameter,
]);

/** The source with every decorator TypeScript's grammar refuses turned into a marked block comment. */
function hideDecorators(text) {
  const file = ts.createSourceFile('unit.ts', text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const ranges = [];
  const visit = (node) => {
    if (node.kind === ts.SyntaxKind.Decorator && !CLASS_PLACES.has(node.parent.kind)) {
      ranges.push([node.getStart(file), node.end]);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  let out = '';
  let at = 0;
  for (const [start, end] of ranges) {
    const decorator = text.slice(start, end);
    if (decorator.includes('*/')) throw new Error(`cannot hide decorator ${decorator}`);
    out += `${text.slice(at, start)}/*${MARK}${decorator}*/`;
    at = end;
  }
  return out + text.slice(at);
}

const tsParser = typescript.parsers.typescript;
const estreePrinter = estree.printers.estree;

export const parsers = {
  assemblyscript: {
    ...tsParser,
    astFormat: 'assemblyscript-estree',
    preprocess: (text, options) => hideDecorators(tsParser.preprocess ? tsParser.preprocess(text, options) : text),
  },
};

export const printers = {
  'assemblyscript-estree': {
    ...estreePrinter,
    printComment(path, options) {
      const { value } = path.node;
      return value.startsWith(MARK) ? value.slice(MARK.length) : estreePrinter.printComment(path, options);
    },
  },
};
