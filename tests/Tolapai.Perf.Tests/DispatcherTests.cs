using Tolapai.Perf.Cli;

namespace Tolapai.Perf.Tests;

public class DispatcherTests
{
    private static (int Exit, string Out, string Err) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = PerfCommands.CreateDispatcher().Run(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }

    [Theory]
    [InlineData("kernels", "--bogus", "1")]
    [InlineData("kernels", "--seconds", "abc")]
    [InlineData("kernels", "--size", "12")]
    [InlineData("kernels", "--seconds")]
    [InlineData("kernels", "extra")]
    [InlineData("kernels", "--json", "/no/such/directory/report.json")]
    public void A_bad_flag_prints_one_line_on_stderr_and_exits_2(params string[] args)
    {
        (int exit, string output, string error) = Run(args);

        Assert.Equal(ExitCodes.Usage, exit);
        Assert.Equal("", output);
        Assert.Single(error.TrimEnd('\n').Split('\n'));
        Assert.StartsWith("perf kernels: ", error, StringComparison.Ordinal);
    }

    [Fact]
    public void No_command_exits_2()
    {
        (int exit, _, string error) = Run();

        Assert.Equal(ExitCodes.Usage, exit);
        Assert.Single(error.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public void An_unknown_command_exits_2()
    {
        (int exit, _, string error) = Run("no-such-command");

        Assert.Equal(ExitCodes.Usage, exit);
        Assert.Contains("no-such-command", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Help_lists_every_command_and_exits_0()
    {
        (int exit, string output, string error) = Run("help");

        Assert.Equal(ExitCodes.Ok, exit);
        Assert.Equal("", error);
        foreach (IPerfCommand command in PerfCommands.CreateDispatcher().Commands)
        {
            Assert.Contains(command.Name, output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Program_main_returns_the_dispatcher_exit_code()
    {
        Assert.Equal(ExitCodes.Usage, Program.Main(["kernels", "--bogus", "1"]));
    }
}
