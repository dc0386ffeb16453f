import ArgumentParser

@main
struct Tern: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tern",
        abstract: "Tern: an LLM serving engine.",
        subcommands: [ServeCommand.self, GenerateCommand.self, TokenizeCommand.self, RenderChatCommand.self,
                      BenchDecodeCommand.self, BenchEngineCommand.self, BenchGEMVCommand.self, SelftestCommand.self, BenchCommand.self,
                      RouterCommand.self, BenchMoECommand.self, BenchAttentionCommand.self])
}
