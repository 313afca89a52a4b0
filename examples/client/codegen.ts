// GraphQL Code Generator: typed documents for a React or React Native client.
//   npm install -D @graphql-codegen/cli @graphql-codegen/client-preset
//   npx graphql-codegen --config codegen.ts
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "../../schema.graphql",
  documents: ["operations.graphql"],
  generates: {
    "./src/gql/": {
      preset: "client",
      config: {
        scalars: { Date: "string", DateTime: "string", Decimal: "string", Time: "string", JSON: "unknown" },
        enumsAsTypes: true,
      },
    },
  },
};

export default config;
