import ArgumentParser

@main
struct Tern: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tern",
        abstract: "Tern: an LLM serving engine.",
        subcommands: [GenerateCommand.self, BenchDecodeCommand.self, BenchCommand.self])
}
