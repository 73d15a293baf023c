using System.Globalization;

namespace Tolapai.Xen.XenStore;

/// <summary>Access bits of one permission entry (XS_PERM_* of xenstored).</summary>
[Flags]
public enum XsAccess
{
    /// <summary>'n': no access.</summary>
    None = 0,
    /// <summary>'r': read (and watch).</summary>
    Read = 1,
    /// <summary>'w': write.</summary>
    Write = 2,
    /// <summary>'b': both.</summary>
    Both = Read | Write,
}

/// <summary>
/// One entry of a node's permission list. As in Xen, the first entry names the owner (who has
/// every right) and the access of every domain not listed; later entries give one domain its access.
/// Wire form: a letter (<c>r w b n</c>) followed by the domid in decimal, e.g. <c>"r5"</c>.
/// </summary>
public readonly record struct XsPermission(uint DomId, XsAccess Access)
{
    /// <summary>The wire letter of <see cref="Access"/>.</summary>
    public char Letter => Access switch { XsAccess.Read => 'r', XsAccess.Write => 'w', XsAccess.Both => 'b', _ => 'n' };

    /// <summary>Wire form, e.g. "b0".</summary>
    public override string ToString() => Letter + DomId.ToString(CultureInfo.InvariantCulture);

    /// <summary>Parses one wire entry strictly: a letter, then decimal digits of a valid domid.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out XsPermission permission)
    {
        permission = default;
        if (text.Length < 2 || text.Length > 6)
            return false;
        XsAccess access;
        switch (text[0])
        {
            case 'r': access = XsAccess.Read; break;
            case 'w': access = XsAccess.Write; break;
            case 'b': access = XsAccess.Both; break;
            case 'n': access = XsAccess.None; break;
            default: return false;
        }
        foreach (char c in text[1..])
            if (c is < '0' or > '9')
                return false;
        uint id = uint.Parse(text[1..], NumberStyles.None, CultureInfo.InvariantCulture);
        if (id >= XsLimits.DomIdFirstReserved)
            return false;
        permission = new XsPermission(id, access);
        return true;
    }

    /// <summary>
    /// The access a domain has to a node with <paramref name="perms"/>, as xenstored's
    /// <c>perm_for_conn</c>: a privileged domain and the owner get everything; otherwise the
    /// domain's own entry, else the default in the first entry.
    /// </summary>
    internal static XsAccess For(IReadOnlyList<XsPermission> perms, uint domid, bool privileged, uint? target, out bool owner)
    {
        owner = privileged || perms[0].DomId == domid || (target is uint t && perms[0].DomId == t);
        if (owner)
            return XsAccess.Both;
        for (int i = 1; i < perms.Count; i++)
            if (perms[i].DomId == domid || (target is uint t2 && perms[i].DomId == t2))
                return perms[i].Access;
        return perms[0].Access;
    }
}
