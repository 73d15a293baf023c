using System.Globalization;

namespace Tolapai.Xen.TestChild;

/// <summary>
/// Entry of the test child process. Prints "READY ..." when set up, "DONE ..." on success,
/// "FAIL ..." (exit 1) on a detected error, and exits 2 on bad usage.
/// </summary>
public static class Program
{
    /// <summary>Runs one role.</summary>
    public static int Main(string[] args)
    {
        if (args.Length == 0)
        {
            Console.Error.WriteLine("usage: Tolapai.Xen.TestChild <front|back|sleeper|grant-guest|grant-mapper|grant-holder|hostile|pingpong> ...");
            return 2;
        }

        try
        {
            return args[0] switch
            {
                "front" => RingRoles.Front(args),
                "back" => RingRoles.Back(args),
                "sleeper" => OtherRoles.Sleeper(args),
                "grant-guest" => GrantRoles.Guest(args),
                "grant-mapper" => GrantRoles.Mapper(args),
                "hostile" => OtherRoles.Hostile(args),
                "grant-holder" => OtherRoles.GrantHolder(args),
                "pingpong" => OtherRoles.PingPongServe(args),
                _ => Usage(args[0]),
            };
        }
        catch (Exception e)
        {
            Console.WriteLine($"FAIL exception {e}");
            return 1;
        }
    }

    public static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);

    public static uint UInt(string s) => uint.Parse(s, CultureInfo.InvariantCulture);

    public static ushort Dom(string s) => ushort.Parse(s, CultureInfo.InvariantCulture);

    public static void Say(string line)
    {
        Console.WriteLine(line);
        Console.Out.Flush();
    }

    private static int Usage(string role)
    {
        Console.Error.WriteLine($"unknown role '{role}'");
        return 2;
    }
}
