using Tolapai.Perf.Cli;
using Tolapai.Perf.Kernels;

namespace Tolapai.Perf.Tests;

public class KernelsOptionsTests
{
    [Fact]
    public void No_flags_gives_the_defaults()
    {
        KernelsOptions options = KernelsOptions.Parse([]);

        Assert.Equal(KernelsOptions.DefaultSeconds, options.Seconds);
        Assert.Equal(KernelsOptions.DefaultSize, options.Size);
        Assert.Equal(KernelsOptions.DefaultStreamBytes, options.StreamBytes);
        Assert.Null(options.JsonPath);
    }

    [Fact]
    public void Flags_are_read_with_a_space_or_an_equals_sign()
    {
        KernelsOptions options = KernelsOptions.Parse(["--seconds", "0.25", "--size=1024", "--json", "out.json", "--stream-bytes=64"]);

        Assert.Equal(0.25, options.Seconds);
        Assert.Equal(1024, options.Size);
        Assert.Equal(64, options.StreamBytes);
        Assert.Equal("out.json", options.JsonPath);
    }

    [Theory]
    [InlineData("--bogus", "1")]
    [InlineData("--seconds")]
    [InlineData("--seconds", "0")]
    [InlineData("--seconds", "-1")]
    [InlineData("--seconds", "abc")]
    [InlineData("--seconds", "NaN")]
    [InlineData("--seconds", "61")]
    [InlineData("--size", "12")]
    [InlineData("--size", "0")]
    [InlineData("--size", "1e3")]
    [InlineData("--stream-bytes", "7")]
    [InlineData("--json", "")]
    [InlineData("--size", "64", "--size", "128")]
    [InlineData("positional")]
    [InlineData("-s", "1")]
    public void A_bad_flag_is_a_usage_error(params string[] args)
    {
        UsageException e = Assert.Throws<UsageException>(() => KernelsOptions.Parse(args));

        Assert.False(string.IsNullOrWhiteSpace(e.Message));
        Assert.DoesNotContain('\n', e.Message);
    }
}
