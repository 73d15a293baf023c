using System.Globalization;

namespace Tolapai.Xen.Toolstack;

/// <summary>
/// What a guest process is told when it starts, as Xen's start_info tells a PV kernel its
/// store_mfn and store_evtchn: the host, its domid, and where its XenStore ring is. The
/// toolstack passes it in environment variables.
/// </summary>
/// <param name="RunDirectory">The host's run directory.</param>
/// <param name="DomId">This guest's domid.</param>
/// <param name="XenStoreFrame">Frame of the guest's memory holding its xenstore_domain_interface page (the last frame).</param>
/// <param name="XenStorePort">The guest's event channel port to xenstored (store_evtchn).</param>
public sealed record GuestStartInfo(string RunDirectory, ushort DomId, uint XenStoreFrame, uint XenStorePort)
{
    /// <summary>Run directory variable.</summary>
    public const string RunDirectoryVariable = "TOLAPAI_RUN_DIR";

    /// <summary>Domid variable.</summary>
    public const string DomIdVariable = "TOLAPAI_DOMID";

    /// <summary>XenStore frame variable (store_mfn).</summary>
    public const string XenStoreFrameVariable = "TOLAPAI_XENSTORE_GFN";

    /// <summary>XenStore port variable (store_evtchn).</summary>
    public const string XenStorePortVariable = "TOLAPAI_XENSTORE_PORT";

    /// <summary>True when this process was started as a guest (the domid variable is set).</summary>
    public static bool IsPresent => Environment.GetEnvironmentVariable(DomIdVariable) is { Length: > 0 };

    /// <summary>Reads the start info from this process's environment; an <see cref="InvalidOperationException"/> naming what is missing or malformed.</summary>
    public static GuestStartInfo FromEnvironment() => Parse(Environment.GetEnvironmentVariable);

    /// <summary>Reads the start info through <paramref name="lookup"/> (an environment).</summary>
    public static GuestStartInfo Parse(Func<string, string?> lookup)
    {
        ArgumentNullException.ThrowIfNull(lookup);
        string dir = lookup(RunDirectoryVariable) is { Length: > 0 } d ? d
            : throw new InvalidOperationException($"{RunDirectoryVariable} is not set: this process was not started by 'tolapai xl create'");
        return new GuestStartInfo(dir, (ushort)Number(lookup, DomIdVariable, 1, 0x7FEF), Number(lookup, XenStoreFrameVariable, 1, uint.MaxValue), Number(lookup, XenStorePortVariable, 1, uint.MaxValue));
    }

    private static uint Number(Func<string, string?> lookup, string name, uint min, uint max)
    {
        string? text = lookup(name);
        if (text is not { Length: > 0 })
            throw new InvalidOperationException($"{name} is not set: this process was not started by 'tolapai xl create'");
        if (!uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out uint v) || v < min || v > max)
            throw new InvalidOperationException($"{name}='{text}' is not a number in {min}..{max}");
        return v;
    }

    /// <summary>The variables, for a child's environment.</summary>
    public IReadOnlyDictionary<string, string> ToEnvironment() => new Dictionary<string, string>
    {
        [RunDirectoryVariable] = RunDirectory,
        [DomIdVariable] = DomId.ToString(CultureInfo.InvariantCulture),
        [XenStoreFrameVariable] = XenStoreFrame.ToString(CultureInfo.InvariantCulture),
        [XenStorePortVariable] = XenStorePort.ToString(CultureInfo.InvariantCulture),
    };
}
