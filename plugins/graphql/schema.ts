import type { IResolvers } from 'mercurius'

export const schema = /* GraphQL */ `
  type Query {
    "Answers with the id it was given; needs a valid session token."
    pingOne(id: String!): String!
  }
`

export const resolvers: IResolvers = {
  Query: {
    pingOne: (_root: unknown, { id }: { id: string }) => `GraphQL Ping #${id}!`
  }
}
